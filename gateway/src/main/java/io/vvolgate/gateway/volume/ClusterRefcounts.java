package io.vvolgate.gateway.volume;

import java.util.Arrays;

/**
 * How many map leaves hold each physical cluster of a container. A cluster with count 0 is free; one
 * with count above 1 is shared (by snapshots or clones) and must be copied before a head writes it.
 * In-flight I/O also holds clusters ({@link #increment} then {@link #unpin}) so they are not freed under it;
 * the drop listener hears only of maps letting go ({@link #decrement}), since only that is a change the
 * metadata on disk has yet to record.
 *
 * <p>Owned by the container's metadata thread; not thread-safe.
 */
public final class ClusterRefcounts {
    /** Called when a cluster's count drops to zero. */
    @FunctionalInterface
    public interface FreeListener {
        void freed(long cluster);
    }

    /** Called when a map lets go of a cluster that other maps (or pins) still hold. */
    @FunctionalInterface
    public interface DropListener {
        void dropped(long cluster);
    }

    private int[] counts;
    private final FreeListener onFree;
    private final DropListener onDrop;
    private long referenced;

    public ClusterRefcounts(long clusters, FreeListener onFree) {
        this(clusters, onFree, cluster -> { });
    }

    public ClusterRefcounts(long clusters, FreeListener onFree, DropListener onDrop) {
        this.counts = new int[Math.toIntExact(clusters)];
        this.onFree = onFree;
        this.onDrop = onDrop;
    }

    public long capacity() {
        return counts.length;
    }

    /** Makes room for clusters up to {@code clusters} (a container that grew). */
    public void grow(long clusters) {
        if (clusters > counts.length) {
            counts = Arrays.copyOf(counts, Math.toIntExact(clusters));
        }
    }

    public int get(long cluster) {
        return counts[(int) cluster];
    }

    public void increment(long cluster) {
        int i = (int) cluster;
        if (counts[i]++ == 0) {
            referenced++;
        }
    }

    /** A map lets go of {@code cluster}. */
    public void decrement(long cluster) {
        if (release(cluster) > 0) {
            onDrop.dropped(cluster);
        }
    }

    /** In-flight I/O lets go of {@code cluster} (held with {@link #increment}). */
    public void unpin(long cluster) {
        release(cluster);
    }

    private int release(long cluster) {
        int i = (int) cluster;
        int c = counts[i];
        if (c <= 0) {
            throw new IllegalStateException("cluster " + cluster + " released more often than held");
        }
        counts[i] = c - 1;
        if (c == 1) {
            referenced--;
            onFree.freed(cluster);
        }
        return c - 1;
    }

    /** Clusters held by at least one map. */
    public long referencedClusters() {
        return referenced;
    }
}
