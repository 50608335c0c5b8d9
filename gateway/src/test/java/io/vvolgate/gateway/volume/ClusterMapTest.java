package io.vvolgate.gateway.volume;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Maps as the storage engine uses them — heads written copy-on-write, snapshots, linked clones, reverts,
 * deletes in any order — checked step by step against a plain model: what each map reads, that no
 * snapshot ever sees a later write, and that exactly the clusters no map references are free.
 */
@Timeout(120)
class ClusterMapTest {

    /** A container in miniature: clusters hold a "version" instead of data. */
    static final class Pool {
        final ArrayDeque<Long> free = new ArrayDeque<>();
        final ClusterRefcounts refs;
        final long[] contents;
        long next;
        long writesInPlace;
        long copies;

        Pool(int clusters) {
            contents = new long[clusters];
            refs = new ClusterRefcounts(clusters, free::push);
        }

        long allocate() {
            if (!free.isEmpty()) {
                return free.pop();
            }
            if (next == contents.length) {
                throw new IllegalStateException("pool full");
            }
            return next++;
        }

        /** A head write of {@code version} to logical cluster {@code lc}, as the container will do it. */
        void write(ClusterMap head, long lc, long version) {
            long p = head.ownPath(lc);
            if (p != ClusterMap.UNMAPPED && refs.get(p) == 1) {
                contents[(int) p] = version;
                writesInPlace++;
                return;
            }
            long c = allocate();
            contents[(int) c] = version;
            head.set(lc, c);
            copies++;
        }
    }

    @Test
    void aSnapshotIsTakenInConstantTimeAndSeesNoLaterWrite() {
        Pool pool = new Pool(1 << 16);
        ClusterMap head = ClusterMap.create(1L << 30, pool.refs); // a 64 TiB volume of 64 KiB clusters
        for (long lc = 0; lc < 10_000; lc++) {
            pool.write(head, lc * 97, 1);
        }
        long referenced = pool.refs.referencedClusters();
        ClusterMap snap = head.share();
        assertEquals(referenced, pool.refs.referencedClusters(), "taking a snapshot touches no cluster");
        pool.write(head, 97, 2);
        assertEquals(1, pool.contents[(int) snap.get(97)]);
        assertEquals(2, pool.contents[(int) head.get(97)]);
        assertEquals(referenced + 1, pool.refs.referencedClusters(), "one cluster copied on write");
        snap.release();
        assertEquals(referenced, pool.refs.referencedClusters(), "deleting the snapshot frees its old cluster");
        head.release();
        assertEquals(0, pool.refs.referencedClusters());
    }

    @Test
    void randomSequencesMatchTheModel() {
        long seed = Long.getLong("clustermap.seed", System.nanoTime());
        int sequences = Integer.getInteger("clustermap.sequences", 300);
        for (int s = 0; s < sequences; s++) {
            long caseSeed = seed + s;
            try {
                runSequence(new Random(caseSeed), 400);
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("sequence seed " + caseSeed + " (replay: -Dclustermap.seed=" + caseSeed
                        + " -Dclustermap.sequences=1): " + e.getMessage(), e);
            }
        }
    }

    @Test
    void randomMapsComeBackFromTheCheckpointImageWithTheSameSharing() {
        long seed = Long.getLong("clustermap.seed", System.nanoTime());
        int sequences = Integer.getInteger("clustermap.sequences", 100);
        for (int s = 0; s < sequences; s++) {
            long caseSeed = seed + s;
            try {
                runSequence(new Random(caseSeed), 300, true);
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("sequence seed " + caseSeed + " (replay: -Dclustermap.seed=" + caseSeed
                        + " -Dclustermap.sequences=1): " + e.getMessage(), e);
            }
        }
    }

    @Test
    void aSnapshotThatDiffersByOneClusterCostsAFewBytesOfImageNotACopyOfItsMap() {
        Pool pool = new Pool(1 << 16);
        ClusterMap head = ClusterMap.create(1L << 20, pool.refs);
        for (long lc = 0; lc < 40_000; lc++) {
            pool.write(head, lc, 1);
        }
        List<ClusterMap> maps = new ArrayList<>();
        for (int s = 0; s < 256; s++) {
            pool.write(head, s * 151L, 2 + s);
            maps.add(head.share());
        }
        maps.add(head);
        long one = image(List.of(head)).length;
        long all = image(maps).length;
        // 256 more maps, each a changed leaf and root path on top of its neighbour: well under 100 bytes each.
        assertTrue(all - one < 256 * 100, "257 maps take " + all + " bytes, one takes " + one);
        for (ClusterMap m : maps) {
            m.release();
        }
    }

    private static byte[] image(List<ClusterMap> maps) {
        io.netty.buffer.ByteBuf out = io.netty.buffer.Unpooled.buffer();
        ClusterMap.ImageWriter w = new ClusterMap.ImageWriter(out);
        for (ClusterMap m : maps) {
            out.writeLongLE(w.add(m));
        }
        byte[] b = new byte[out.readableBytes()];
        out.readBytes(b);
        return b;
    }

    /**
     * Writes every map's nodes as a checkpoint does and reads them back over fresh reference counts: the
     * rebuilt maps read the same, hold every cluster as often, write back to the same image (so the same
     * nodes are shared), copy on write as before, and free everything once released.
     */
    private static void roundTrip(Random rnd, Pool pool, List<ClusterMap> maps, List<Map<Long, Long>> models, List<Boolean> writable,
                                  long[] clustersOf) {
        io.netty.buffer.ByteBuf out = io.netty.buffer.Unpooled.buffer();
        ClusterMap.ImageWriter w = new ClusterMap.ImageWriter(out);
        long[] roots = new long[maps.size()];
        for (int i = 0; i < maps.size(); i++) {
            roots[i] = w.add(maps.get(i));
        }
        Pool again = new Pool(pool.contents.length);
        System.arraycopy(pool.contents, 0, again.contents, 0, pool.contents.length);
        again.next = pool.next;
        ClusterMap.ImageReader r = new ClusterMap.ImageReader(again.refs);
        for (int n = 0; n < w.nodes(); n++) {
            r.read(out);
        }
        assertEquals(0, out.readableBytes());
        out.release();
        List<ClusterMap> rebuilt = new ArrayList<>();
        for (int i = 0; i < maps.size(); i++) {
            rebuilt.add(r.map(roots[i], clustersOf[i]));
            assertEquals(maps.get(i).mappedClusters(), rebuilt.get(i).mappedClusters());
        }
        r.checkEveryNodeReached();
        for (int c = 0; c < pool.contents.length; c++) {
            assertEquals(pool.refs.get(c), again.refs.get(c), "references of cluster " + c);
        }
        assertTrue(java.util.Arrays.equals(image(maps), image(rebuilt)), "the same nodes, shared the same way");
        // The free list is rebuilt from the counts, as the container does after loading.
        for (long c = 0; c < again.next; c++) {
            if (again.refs.get(c) == 0) {
                again.free.push(c);
            }
        }
        verify(again, rebuilt, models);
        long version = 1L << 40;
        for (int i = 0; i < rebuilt.size(); i++) {
            if (writable.get(i)) {
                for (int k = 0; k < 20; k++) {
                    long lc = hot(rnd, rebuilt.get(i).clusters());
                    again.write(rebuilt.get(i), lc, version);
                    models.get(i).put(lc, version++);
                }
            }
        }
        verify(again, rebuilt, models);
        for (ClusterMap m : rebuilt) {
            m.release();
        }
        assertEquals(0, again.refs.referencedClusters(), "everything is free once every rebuilt map is gone");
    }

    private static void runSequence(Random rnd, int steps) {
        runSequence(rnd, steps, false);
    }

    private static void runSequence(Random rnd, int steps, boolean throughImage) {
        int logical = rnd.nextBoolean() ? 600 : 300_000; // one level, or three levels with sparse use
        Pool pool = new Pool(200_000);
        List<ClusterMap> maps = new ArrayList<>();
        List<Map<Long, Long>> models = new ArrayList<>();
        List<Boolean> writable = new ArrayList<>();
        maps.add(ClusterMap.create(logical, pool.refs));
        models.add(new HashMap<>());
        writable.add(true);
        long version = 1;
        for (int step = 0; step < steps; step++) {
            int i = rnd.nextInt(maps.size());
            ClusterMap m = maps.get(i);
            Map<Long, Long> model = models.get(i);
            int op = rnd.nextInt(100);
            if (op < 50 && writable.get(i)) {
                int burst = 1 + rnd.nextInt(20);
                long start = hot(rnd, m.clusters());
                for (int b = 0; b < burst && start + b < m.clusters(); b++) {
                    long v = version++;
                    pool.write(m, start + b, v);
                    model.put(start + b, v);
                }
            } else if (op < 60 && writable.get(i)) {
                long lc = hot(rnd, m.clusters());
                m.unmap(lc);
                model.remove(lc);
            } else if (op < 72) {
                // snapshot (read-only) or linked clone (writable)
                maps.add(m.share());
                models.add(new HashMap<>(model));
                writable.add(rnd.nextBoolean());
            } else if (op < 80 && maps.size() > 1) {
                m.release();
                maps.remove(i);
                models.remove(i);
                writable.remove(i);
            } else if (op < 85 && writable.get(i) && maps.size() > 1) {
                // revert: the head becomes a share of another map
                int j = rnd.nextInt(maps.size());
                if (j != i) {
                    ClusterMap target = maps.get(j);
                    if (target.clusters() == m.clusters()) {
                        ClusterMap reverted = target.share();
                        m.release();
                        maps.set(i, reverted);
                        models.set(i, new HashMap<>(models.get(j)));
                    }
                }
            } else if (op < 88 && writable.get(i)) {
                long bigger = m.clusters() + rnd.nextInt(5_000);
                m.grow(bigger);
            }
            if (step % 25 == 0 || step == steps - 1) {
                verify(pool, maps, models);
            }
        }
        if (throughImage) {
            long[] clustersOf = maps.stream().mapToLong(ClusterMap::clusters).toArray();
            List<Map<Long, Long>> copies = new ArrayList<>();
            for (Map<Long, Long> model : models) {
                copies.add(new HashMap<>(model));
            }
            roundTrip(rnd, pool, maps, copies, writable, clustersOf);
        }
        for (ClusterMap m : maps) {
            m.release();
        }
        assertEquals(0, pool.refs.referencedClusters(), "everything is free once every map is gone");
    }

    /** Mostly a small hot region (so maps share and copy a lot), sometimes anywhere. */
    private static long hot(Random rnd, long clusters) {
        return rnd.nextInt(4) == 0 ? (long) (rnd.nextDouble() * clusters) : rnd.nextInt((int) Math.min(clusters, 2048));
    }

    private static void verify(Pool pool, List<ClusterMap> maps, List<Map<Long, Long>> models) {
        Set<Long> used = new HashSet<>();
        for (int i = 0; i < maps.size(); i++) {
            ClusterMap m = maps.get(i);
            Map<Long, Long> model = models.get(i);
            long[] mapped = {0};
            m.forEachMapped((lc, pc) -> {
                Long expected = model.get(lc);
                if (expected == null) {
                    fail("map " + maps.indexOf(m) + " maps logical " + lc + " that the model has unmapped");
                }
                assertEquals(expected.longValue(), pool.contents[(int) pc], "content of logical " + lc);
                assertTrue(pool.refs.get(pc) > 0, "a mapped cluster is referenced");
                used.add(pc);
                mapped[0]++;
                return 0;
            });
            assertEquals(model.size(), mapped[0], "mapped clusters");
            for (Map.Entry<Long, Long> e : model.entrySet()) {
                assertEquals(e.getValue().longValue(), pool.contents[(int) m.get(e.getKey())]);
            }
        }
        assertEquals(used.size(), pool.refs.referencedClusters(), "exactly the clusters some map uses are held");
    }
}
