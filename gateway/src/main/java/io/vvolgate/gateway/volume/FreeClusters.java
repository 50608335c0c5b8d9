package io.vvolgate.gateway.volume;

import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;

/**
 * The container's free clusters as a bitmap (one bit a cluster: 4 MiB of heap for a 2 TiB container of
 * 64 KiB clusters), handed out from a rotating cursor so allocation spreads over the device instead of
 * hammering its start; and the clusters freed since the last commit, which may not be reused before that
 * commit is durable.
 *
 * <p>The same rule, one step earlier: a cluster that a map let go of while another map still holds it
 * (a head copying-on-write away from a cluster a clone shares, or unmapping it) is held alone in memory,
 * but the durable metadata may still give it to both until the record that let go is durable. Until then
 * it must not be written in place ({@link #mayWriteInPlace}): a cut would leave the first map reading the
 * other's data. The check is one bit; the bookkeeping happens only when a map lets go of a shared cluster.
 *
 * <p>Guarded by the container's lock.
 */
final class FreeClusters {
    private final BitSet free = new BitSet();
    private final int clusters;
    private int count;
    private int cursor;
    private long[] pending = new long[64];
    private int pendingCount;
    /** Clusters let go of by a record not yet durable while other maps hold them; a bit per cluster. */
    private final BitSet dropped = new BitSet();
    /** How many such drops each marked cluster still waits for (marked again before the first is durable). */
    private final Map<Long, Integer> droppedHolds = new HashMap<>();
    private long[] droppedPending = new long[64];
    private int droppedPendingCount;

    FreeClusters(long clusters) {
        if (clusters > Integer.MAX_VALUE) {
            throw new VolumeException("a container of " + clusters + " clusters is too large: use larger clusters");
        }
        this.clusters = (int) clusters;
    }

    /** Marks every cluster free (a new container). */
    void allFree() {
        free.set(0, clusters);
        count = clusters;
    }

    /** Marks the clusters with no reference free (after recovery). */
    void rebuild(ClusterRefcounts refs) {
        free.clear();
        count = 0;
        pendingCount = 0;
        dropped.clear();
        droppedHolds.clear();
        droppedPendingCount = 0;
        for (int c = 0; c < clusters; c++) {
            if (refs.get(c) == 0) {
                free.set(c);
                count++;
            }
        }
    }

    int count() {
        return count;
    }

    /** A free cluster, or -1. */
    long allocate() {
        if (count == 0) {
            return -1;
        }
        int c = free.nextSetBit(cursor);
        if (c < 0) {
            c = free.nextSetBit(0);
        }
        free.clear(c);
        count--;
        cursor = c + 1 == clusters ? 0 : c + 1;
        return c;
    }

    /** Back to the pool at once (a cluster nothing on disk ever referenced). */
    void release(long cluster) {
        if (!free.get((int) cluster)) {
            free.set((int) cluster);
            count++;
        }
    }

    /** Freed in memory; reusable only once the commit covering it is durable. */
    void freedPendingCommit(long cluster) {
        if (pendingCount == pending.length) {
            pending = Arrays.copyOf(pending, pending.length * 2);
        }
        pending[pendingCount++] = cluster;
    }

    /** Takes the clusters freed so far, for the commit that starts now. */
    long[] takePending() {
        long[] out = Arrays.copyOf(pending, pendingCount);
        pendingCount = 0;
        return out;
    }

    /** The commit that covered {@code released} is durable (or failed: then they stay out of use). */
    void commitDone(long[] released, boolean durable) {
        for (long c : released) {
            if (durable) {
                release(c);
            } else {
                freedPendingCommit(c);
            }
        }
    }

    /** A map let go of {@code cluster}, which others still hold, by a record that is not durable yet. */
    void droppedPendingCommit(long cluster) {
        dropped.set((int) cluster);
        droppedHolds.merge(cluster, 1, Integer::sum);
        addDropped(cluster);
    }

    private void addDropped(long cluster) {
        if (droppedPendingCount == droppedPending.length) {
            droppedPending = Arrays.copyOf(droppedPending, droppedPending.length * 2);
        }
        droppedPending[droppedPendingCount++] = cluster;
    }

    /** False while a record that let go of {@code cluster} elsewhere is not durable (see the class comment). */
    boolean mayWriteInPlace(long cluster) {
        return !dropped.get((int) cluster);
    }

    /** Takes the drops so far, for the commit that starts now. */
    long[] takeDropped() {
        long[] out = Arrays.copyOf(droppedPending, droppedPendingCount);
        droppedPendingCount = 0;
        return out;
    }

    /** The commit that covered {@code drops} is durable (or failed: then they stay marked, for the next one). */
    void dropsCommitted(long[] drops, boolean durable) {
        for (long c : drops) {
            if (!durable) {
                addDropped(c);
            } else if (droppedHolds.merge(c, -1, Integer::sum) == 0) {
                droppedHolds.remove(c);
                dropped.clear((int) c);
            }
        }
    }
}
