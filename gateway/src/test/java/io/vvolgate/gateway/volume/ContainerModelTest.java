package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Model-based randomized test of the storage engine: thousands of random sequences of create, write,
 * deallocate, write zeroes, flush, snapshot, linked clone, revert, delete, resize, metadata and reopen,
 * each step checked against a simple in-memory model (the bytes of every volume and snapshot; a snapshot
 * or clone is a copy, revert is a copy).
 *
 * <p>Checked after every step: the range just touched and a random range of a random volume read as the
 * model says; {@code space()} counts exactly the distinct physical clusters the live volumes map (so
 * refcounts neither leak nor under-count); the volume list. Every few steps, after every reopen and at the
 * end, everything: whole contents, attributes, metadata, {@code allocatedBitmap} covers every cluster
 * holding non-zero data, {@code unsharedBitmap(v, s)} covers every cluster where v and s differ. Reopen
 * (close, then {@link Container#open}) must give back exactly the same volumes, maps and space. Each
 * sequence ends by deleting everything in random order: the container must be empty again, and so after a
 * reopen. ENOSPC from a write is accepted (it must change nothing).
 *
 * <p>System properties: {@code container.model.seed} (base seed; sequence i uses seed + i),
 * {@code container.model.sequences}, {@code container.model.steps}, {@code container.model.keep} (a
 * comma-separated list of step indices to run, as printed for a minimised failure) and
 * {@code container.model.shrink=false}. A failure prints the seed, the steps run, a minimised step list and
 * the command line that replays it.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ContainerModelTest {
    /**
     * Sequences run by default. On the 2-core build machine, shared with other builds (load 4 to 5),
     * 2,000 took 104 s and 1,000 took 59 s, so the default is 1,000: about a minute. Run more with
     * {@code -Dcontainer.model.sequences=N}; sequence i always uses seed base + i, so a failure replays
     * with the printed seed whatever N found it.
     */
    static final int DEFAULT_SEQUENCES = 1_000;
    static final int PAGE = 4096;
    static final long MIB = 1L << 20;
    static final int MAX_VOLUMES = 24;
    static final int FULL_CHECK_EVERY = 15;

    enum Kind {
        CREATE(6), WRITE(28), READ(5), DEALLOCATE(8), ZEROES(6), FLUSH(5), SNAPSHOT(8), CLONE(5), REVERT(5),
        DELETE(6), RESIZE(5), METADATA(4), REOPEN(3), WRITE_SNAPSHOT(2), OUT_OF_RANGE(2);

        final int weight;

        Kind(int weight) {
            this.weight = weight;
        }
    }

    /** One step: what to do and the seed of every choice it makes (volume, range, data), relative to the state. */
    record Step(Kind kind, long seed) {
    }

    record Config(long seed, int clusterSize, long deviceSize, List<Step> steps) {
        static Config generate(long seed, int steps) {
            Random r = new Random(seed);
            int cs = r.nextInt(5) == 0 ? 4096 : 64 * 1024;
            // Mostly roomy devices; one in five small enough that sequences run into ENOSPC.
            long device = r.nextInt(5) == 0 ? (5 + r.nextInt(5)) * MIB : (64 + r.nextInt(65)) * MIB;
            int total = Arrays.stream(Kind.values()).mapToInt(k -> k.weight).sum();
            List<Step> list = new ArrayList<>();
            for (int i = 0; i < steps; i++) {
                int w = r.nextInt(total);
                Kind kind = null;
                for (Kind k : Kind.values()) {
                    w -= k.weight;
                    if (w < 0) {
                        kind = k;
                        break;
                    }
                }
                list.add(new Step(kind, r.nextLong()));
            }
            return new Config(seed, cs, device, list);
        }

        @Override
        public String toString() {
            return "seed " + seed + ", " + (clusterSize / 1024) + " KiB clusters, " + (deviceSize / MIB) + " MiB device, "
                    + steps.size() + " steps";
        }
    }

    /** The model of one volume, snapshot or clone: its attributes and its bytes as immutable 4 KiB pages (absent = zeroes). */
    static final class MVol {
        final long id;
        final String name;
        final VolumeType type;
        final int blockSize;
        final byte[] nguid;
        final UUID uuid;
        final boolean readOnly;
        final long parent;
        final Map<String, String> metadata = new HashMap<>();
        long size;
        TreeMap<Long, byte[]> pages = new TreeMap<>();

        MVol(long id, String name, VolumeType type, long size, int blockSize, byte[] nguid, UUID uuid, boolean readOnly, long parent) {
            this.id = id;
            this.name = name;
            this.type = type;
            this.size = size;
            this.blockSize = blockSize;
            this.nguid = nguid;
            this.uuid = uuid;
            this.readOnly = readOnly;
            this.parent = parent;
        }

        byte[] read(long off, int len) {
            byte[] out = new byte[len];
            for (long at = off; at < off + len; ) {
                long p = at / PAGE;
                int in = (int) (at % PAGE);
                int n = (int) Math.min(PAGE - in, off + len - at);
                byte[] page = pages.get(p);
                if (page != null) {
                    System.arraycopy(page, in, out, (int) (at - off), n);
                }
                at += n;
            }
            return out;
        }

        /** Writes {@code data}, or zeroes if it is null. */
        void modify(long off, long len, byte[] data) {
            for (long at = off; at < off + len; ) {
                long p = at / PAGE;
                int in = (int) (at % PAGE);
                int n = (int) Math.min(PAGE - in, off + len - at);
                byte[] old = pages.get(p);
                byte[] page = old == null ? new byte[PAGE] : old.clone();
                if (data == null) {
                    Arrays.fill(page, in, in + n, (byte) 0);
                } else {
                    System.arraycopy(data, (int) (at - off), page, in, n);
                }
                if (allZero(page)) {
                    pages.remove(p);
                } else {
                    pages.put(p, page);
                }
                at += n;
            }
        }

        BitSet nonZeroClusters(int cs) {
            BitSet bits = new BitSet();
            for (long p : pages.keySet()) {
                bits.set((int) (p * PAGE / cs));
            }
            return bits;
        }

        static BitSet differing(MVol a, MVol b, int cs) {
            BitSet bits = new BitSet();
            Set<Long> keys = new HashSet<>(a.pages.keySet());
            keys.addAll(b.pages.keySet());
            for (long p : keys) {
                if (!Arrays.equals(a.pages.get(p), b.pages.get(p))) {
                    bits.set((int) (p * PAGE / cs));
                }
            }
            return bits;
        }

        @Override
        public String toString() {
            return (readOnly ? "snapshot " : parent != 0 ? "clone " : "volume ") + id;
        }
    }

    static boolean allZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** What the engine says about one volume, to compare across a reopen. */
    record VolumeState(long id, String name, VolumeType type, long size, int blockSize, String nguid, UUID uuid,
                       boolean readOnly, long parent, Map<String, String> metadata, List<Long> map) {
    }

    static final class Stats {
        final Map<Kind, Integer> kinds = new EnumMap<>(Kind.class);
        long steps;
        long sequences;
        long enospc;
        long smallDevices;
        long smallClusters;
        long refusals;

        @Override
        public String toString() {
            return sequences + " sequences (" + smallClusters + " with 4 KiB clusters, " + smallDevices + " on small devices), "
                    + steps + " steps, " + enospc + " ENOSPC, " + refusals + " refused operations checked; " + kinds;
        }
    }

    record Failure(int stepIndex, String kind, String step, Throwable error, List<String> trace) {
        /** What must stay the same while a failure is minimised: where and how it failed (numbers aside). */
        String signature() {
            String message = String.valueOf(error.getMessage()).replaceAll("[0-9]", "");
            return error.getClass().getName() + "@" + kind + ":" + message.substring(0, Math.min(40, message.length()));
        }
    }

    // --- the test ---

    @Test
    void randomSequencesAgreeWithTheModel() {
        long base = Long.getLong("container.model.seed", new Random().nextLong());
        int sequences = Integer.getInteger("container.model.sequences", DEFAULT_SEQUENCES);
        int steps = Integer.getInteger("container.model.steps", 60);
        String keepProperty = System.getProperty("container.model.keep");
        boolean shrink = Boolean.parseBoolean(System.getProperty("container.model.shrink", "true"));
        // Every reopen logs its recovery at INFO: thousands of lines here.
        java.util.logging.Logger containerLog = java.util.logging.Logger.getLogger("vvolgate.container");
        java.util.logging.Level level = containerLog.getLevel();
        containerLog.setLevel(java.util.logging.Level.WARNING);
        try {
            runAll(base, sequences, steps, keepProperty, shrink);
        } finally {
            containerLog.setLevel(level);
        }
    }

    private static void runAll(long base, int sequences, int steps, String keepProperty, boolean shrink) {
        System.out.println("ContainerModelTest: base seed " + base + ", " + sequences + " sequences of " + steps + " steps");
        long start = System.nanoTime();
        Stats stats = new Stats();
        for (int i = 0; i < sequences; i++) {
            Config cfg = Config.generate(base + i, steps);
            List<Integer> keep = new ArrayList<>();
            if (keepProperty != null && !keepProperty.isBlank()) {
                for (String s : keepProperty.split(",")) {
                    keep.add(Integer.parseInt(s.trim()));
                }
            } else {
                for (int s = 0; s < cfg.steps().size(); s++) {
                    keep.add(s);
                }
            }
            Failure failure = run(cfg, keep, stats);
            if (failure != null) {
                report(cfg, keep, failure, shrink);
            }
        }
        System.out.printf("ContainerModelTest: %.1f s: %s%n", (System.nanoTime() - start) / 1e9, stats);
    }

    private static void report(Config cfg, List<Integer> keep, Failure failure, boolean shrink) {
        StringBuilder msg = new StringBuilder();
        msg.append("the container disagrees with the model: ").append(cfg).append('\n');
        msg.append("failed at step ").append(failure.step()).append(": ").append(failure.error()).append('\n');
        msg.append("replay: -Dcontainer.model.seed=").append(cfg.seed()).append(" -Dcontainer.model.sequences=1")
                .append(" -Dcontainer.model.steps=").append(cfg.steps().size()).append('\n');
        msg.append("steps run:\n");
        failure.trace().forEach(s -> msg.append("  ").append(s).append('\n'));
        if (shrink) {
            List<Integer> small = minimise(cfg, keep, failure);
            Failure again = run(cfg, small, new Stats());
            msg.append("minimised to ").append(small.size()).append(" steps; replay: -Dcontainer.model.seed=").append(cfg.seed())
                    .append(" -Dcontainer.model.sequences=1 -Dcontainer.model.steps=").append(cfg.steps().size())
                    .append(" -Dcontainer.model.keep=").append(small.stream().map(String::valueOf).collect(Collectors.joining(",")))
                    .append('\n');
            if (again != null) {
                msg.append("minimised failure: ").append(again.error()).append('\n');
                again.trace().forEach(s -> msg.append("  ").append(s).append('\n'));
            }
        }
        throw new AssertionError(msg.toString(), failure.error());
    }

    /** Delta debugging over the step list: drops chunks of steps while the same failure remains. */
    private static List<Integer> minimise(Config cfg, List<Integer> keep, Failure failure) {
        String signature = failure.signature();
        int position = failure.stepIndex() < 0 ? keep.size() - 1 : keep.indexOf(failure.stepIndex());
        List<Integer> current = new ArrayList<>(keep.subList(0, position + 1));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        int chunk = Math.max(1, current.size() / 2);
        while (chunk >= 1 && System.nanoTime() < deadline) {
            boolean removed = false;
            for (int from = 0; from < current.size() && System.nanoTime() < deadline; ) {
                List<Integer> candidate = new ArrayList<>(current.subList(0, from));
                candidate.addAll(current.subList(Math.min(current.size(), from + chunk), current.size()));
                Failure f = candidate.isEmpty() ? null : run(cfg, candidate, new Stats());
                if (f != null && f.signature().equals(signature)) {
                    current = candidate;
                    removed = true;
                } else {
                    from += chunk;
                }
            }
            if (!removed) {
                chunk /= 2;
            }
        }
        return current;
    }

    private static Failure run(Config cfg, List<Integer> keep, Stats stats) {
        stats.sequences++;
        if (cfg.clusterSize() == 4096) {
            stats.smallClusters++;
        }
        if (cfg.deviceSize() < 64 * MIB) {
            stats.smallDevices++;
        }
        Run run = new Run(cfg, stats);
        try {
            for (int index : keep) {
                run.stepIndex = index;
                run.step(cfg.steps().get(index));
                stats.steps++;
            }
            run.stepIndex = -1;
            run.finish();
            return null;
        } catch (Throwable t) {
            String step = run.trace.isEmpty() ? "format" : run.trace.getLast();
            return new Failure(run.stepIndex, run.kind, step, t, List.copyOf(run.trace));
        } finally {
            run.close();
        }
    }

    // --- one sequence ---

    static final class Run implements AutoCloseable {
        final Config cfg;
        final Stats stats;
        final int cs;
        final MemoryBlockDevice disk;
        Container c;
        final long capacity;
        final boolean tight;
        final TreeMap<Long, MVol> vols = new TreeMap<>();
        final Set<Long> idsEverUsed = new HashSet<>();
        final List<String> trace = new ArrayList<>();
        int stepIndex;
        String kind = "FORMAT";
        int sinceFullCheck;

        Run(Config cfg, Stats stats) {
            this.cfg = cfg;
            this.stats = stats;
            this.cs = cfg.clusterSize();
            this.disk = new MemoryBlockDevice(cfg.deviceSize(), 512);
            this.c = Container.format(disk, new UUID(cfg.seed(), 42), cs);
            this.capacity = c.space().capacity();
            this.tight = cfg.deviceSize() < 64 * MIB;
            assertEquals(0, c.space().used());
            assertEquals(capacity / cs, c.freeClusters());
        }

        @Override
        public void close() {
            try {
                c.close();
            } catch (RuntimeException ignored) {
                // already failing
            }
            disk.close();
        }

        void note(String s) {
            trace.add(stepIndex < 0 ? s : stepIndex + ": " + s);
        }

        List<MVol> writable() {
            return vols.values().stream().filter(m -> !m.readOnly).toList();
        }

        List<MVol> snapshots() {
            return vols.values().stream().filter(m -> m.readOnly).toList();
        }

        static <T> T pick(List<T> list, Random r) {
            return list.get(r.nextInt(list.size()));
        }

        MVol any(Random r) {
            return pick(List.copyOf(vols.values()), r);
        }

        /** What a step becomes when the state does not allow it (no volume to write, no snapshot to clone, ...). */
        Kind resolve(Kind k) {
            if (vols.isEmpty()) {
                return k == Kind.REOPEN ? k : Kind.CREATE;
            }
            boolean noWritable = writable().isEmpty();
            boolean noSnapshot = snapshots().isEmpty();
            Kind out = switch (k) {
                case WRITE, DEALLOCATE, ZEROES, RESIZE -> noWritable ? Kind.CLONE : k;
                case CLONE, WRITE_SNAPSHOT -> noSnapshot ? Kind.SNAPSHOT : k;
                case REVERT -> noSnapshot ? Kind.SNAPSHOT : noWritable ? Kind.CLONE : k;
                default -> k;
            };
            if ((out == Kind.CREATE || out == Kind.SNAPSHOT || out == Kind.CLONE) && vols.size() >= MAX_VOLUMES) {
                out = Kind.DELETE;
            }
            return out;
        }

        void step(Step s) {
            Random r = new Random(s.seed());
            Kind k = resolve(s.kind());
            kind = k.name();
            stats.kinds.merge(k, 1, Integer::sum);
            MVol touched = switch (k) {
                case CREATE -> create(r);
                case WRITE -> write(r);
                case READ -> {
                    MVol m = any(r);
                    long[] range = range(m, r);
                    note("READ " + m + " [" + range[0] + ", +" + range[1] + ")");
                    yield m;
                }
                case DEALLOCATE, ZEROES -> zero(r, k);
                case FLUSH -> flush(r);
                case SNAPSHOT -> snapshot(r);
                case CLONE -> cloneOf(r);
                case REVERT -> revert(r);
                case DELETE -> delete(r);
                case RESIZE -> resize(r);
                case METADATA -> metadata(r);
                case REOPEN -> reopen();
                case WRITE_SNAPSHOT -> writeSnapshot(r);
                case OUT_OF_RANGE -> outOfRange(r);
            };
            // Light checks after every step; everything every few steps.
            checkSpace();
            if (touched != null && k != Kind.WRITE && vols.containsKey(touched.id)) {
                long[] range = range(touched, r);
                verify(touched, range[0], (int) range[1]);
            }
            if (!vols.isEmpty()) {
                MVol m = any(r);
                long[] range = range(m, r);
                verify(m, range[0], (int) range[1]);
            }
            if (++sinceFullCheck >= FULL_CHECK_EVERY) {
                fullCheck();
            }
        }

        // --- operations ---

        MVol create(Random r) {
            int bs = r.nextBoolean() ? 512 : 4096;
            long size = (1 + r.nextInt(8)) * MIB
                    + (r.nextInt(4) == 0 ? (long) bs * (1 + r.nextInt(2 * cs / bs)) : 0); // sometimes not whole clusters
            VolumeType type = VolumeType.values()[r.nextInt(VolumeType.values().length)];
            byte[] nguid = new byte[16];
            r.nextBytes(nguid);
            UUID uuid = new UUID(r.nextLong(), r.nextLong());
            String name = (r.nextInt(8) == 0 ? "диск-" : "vm-") + Integer.toHexString(r.nextInt(1 << 20));
            if (r.nextInt(10) == 0) {
                long badSize = size + bs / 2;
                note("CREATE (refused: size " + badSize + " is not a multiple of " + bs + ")");
                refused(() -> c.createVolume(name, type, badSize, bs, nguid, uuid));
                refused(() -> c.createVolume(name, type, size, 1024, nguid, uuid));
                refused(() -> c.createVolume(name, type, 0, bs, nguid, uuid));
            }
            note("CREATE " + name + " " + type + " " + size + " bytes, " + bs + "-byte LBAs");
            VirtualVolume v = c.createVolume(name, type, size, bs, nguid, uuid);
            assertFalse(idsEverUsed.contains(v.id()), "the new volume got ID " + v.id() + ", which an earlier volume had");
            idsEverUsed.add(v.id());
            MVol m = new MVol(v.id(), name, type, size, bs, nguid, uuid, false, 0);
            vols.put(m.id, m);
            trace.set(trace.size() - 1, trace.getLast() + " -> " + m);
            checkAttributes(m);
            return m;
        }

        /** A block-aligned range of {@code m}: small, a few clusters unaligned, whole clusters, large, or at the end. */
        long[] range(MVol m, Random r) {
            int bs = m.blockSize;
            int p = r.nextInt(100);
            long len;
            if (p < 15) {
                len = (long) bs * (1 + r.nextInt(8));
            } else if (p < (tight ? 55 : 70)) {
                len = (long) bs * (1 + r.nextInt(3 * cs / bs + cs / bs / 2));
            } else if (p < (tight ? 70 : 88)) {
                len = (long) cs * (1 + r.nextInt(4));
            } else if (tight || p >= 97) {
                // Large: on small devices often, so that sequences run into ENOSPC.
                len = (long) bs * (1 + r.nextInt((int) ((tight ? 2 : 1) * MIB / bs)));
            } else {
                len = (long) bs * (1 + r.nextInt(3 * cs / bs + cs / bs / 2));
            }
            len = Math.min(len, m.size);
            long off;
            if (p >= (tight ? 55 : 70) && p < (tight ? 70 : 88) || r.nextInt(5) == 0) {
                off = (long) cs * r.nextLong((m.size - len) / cs + 1);
            } else if (r.nextInt(8) == 0) {
                off = m.size - len;
            } else {
                off = (long) bs * r.nextLong((m.size - len) / bs + 1);
            }
            return new long[] {off, len};
        }

        MVol write(Random r) {
            MVol m = pick(writable(), r);
            long[] range = range(m, r);
            long off = range[0];
            int len = (int) range[1];
            byte[] data = new byte[len];
            int kind = r.nextInt(10);
            if (kind == 0) {
                Arrays.fill(data, (byte) 0); // explicit zeroes still allocate
            } else if (kind == 1) {
                Arrays.fill(data, (byte) (1 + r.nextInt(255)));
            } else {
                r.nextBytes(data);
            }
            boolean fua = r.nextInt(8) == 0;
            note("WRITE " + m + " [" + off + ", +" + len + ")" + (fua ? " FUA" : "") + (kind == 0 ? " zero data" : ""));
            int errno = VolumeIo.write(c.device(m.id), off, data, fua);
            if (errno == IoCompletion.ENOSPC) {
                enospc(m, off, len);
                return m;
            }
            assertEquals(IoCompletion.OK, errno, "write errno");
            m.modify(off, len, data);
            verify(m, Math.max(0, off - cs), (int) Math.min(m.size - Math.max(0, off - cs), len + 2L * cs));
            return m;
        }

        void enospc(MVol m, long off, long len) {
            stats.enospc++;
            trace.set(trace.size() - 1, trace.getLast() + " -> ENOSPC (" + c.freeClusters() + " free clusters, space " + c.space() + ")");
            verify(m, off, (int) len); // nothing changed
        }

        MVol zero(Random r, Kind k) {
            MVol m = pick(writable(), r);
            long[] range = range(m, r);
            long off = range[0];
            long len = range[1];
            boolean fua = r.nextInt(8) == 0;
            note(k + " " + m + " [" + off + ", +" + len + ")" + (fua ? " FUA" : ""));
            VolumeDevice d = c.device(m.id);
            int errno = k == Kind.DEALLOCATE
                    ? VolumeIo.await(f -> d.deallocate(off, len, f, VolumeIo.DONE))
                    : VolumeIo.await(f -> d.writeZeroes(off, len, fua, f, VolumeIo.DONE));
            if (errno == IoCompletion.ENOSPC) {
                enospc(m, off, len);
                return m;
            }
            assertEquals(IoCompletion.OK, errno, k + " errno");
            m.modify(off, len, null);
            return m;
        }

        MVol flush(Random r) {
            MVol m = any(r);
            note("FLUSH via " + m);
            assertEquals(IoCompletion.OK, VolumeIo.flush(c.device(m.id)));
            checkFreeList();
            return null;
        }

        MVol snapshot(Random r) {
            List<MVol> sources = r.nextInt(10) == 0 ? List.copyOf(vols.values()) : writable();
            if (sources.isEmpty()) {
                sources = List.copyOf(vols.values());
            }
            MVol src = pick(sources, r);
            byte[] nguid = new byte[16];
            r.nextBytes(nguid);
            UUID uuid = new UUID(r.nextLong(), r.nextLong());
            String name = "snap-" + Integer.toHexString(r.nextInt(1 << 20));
            note("SNAPSHOT of " + src + " " + name);
            long usedBefore = c.space().used();
            VirtualVolume v = c.snapshot(src.id, name, nguid, uuid);
            return derived(src, v, name, nguid, uuid, true, usedBefore);
        }

        MVol derived(MVol src, VirtualVolume v, String name, byte[] nguid, UUID uuid, boolean readOnly, long usedBefore) {
            assertFalse(idsEverUsed.contains(v.id()), "the new volume got ID " + v.id() + ", which an earlier volume had");
            idsEverUsed.add(v.id());
            MVol m = new MVol(v.id(), name, src.type, src.size, src.blockSize, nguid, uuid, readOnly, src.id);
            m.pages = new TreeMap<>(src.pages);
            vols.put(m.id, m);
            trace.set(trace.size() - 1, trace.getLast() + " -> " + m);
            checkAttributes(m);
            assertEquals(usedBefore, c.space().used(), "a snapshot or linked clone allocates nothing");
            assertTrue(c.unsharedBitmap(m.id, src.id).isEmpty(), "nothing differs yet between " + m + " and " + src);
            assertEquals(c.allocatedBitmap(src.id), c.allocatedBitmap(m.id), "a new snapshot or clone maps what its source maps");
            return m;
        }

        MVol cloneOf(Random r) {
            MVol snap = pick(snapshots(), r);
            byte[] nguid = new byte[16];
            r.nextBytes(nguid);
            UUID uuid = new UUID(r.nextLong(), r.nextLong());
            String name = "clone-" + Integer.toHexString(r.nextInt(1 << 20));
            if (r.nextInt(8) == 0 && !writable().isEmpty()) {
                MVol notSnap = pick(writable(), r);
                note("CLONE of " + notSnap + " (refused: not a snapshot)");
                refused(() -> c.cloneLinked(notSnap.id, name, nguid, uuid));
            }
            note("CLONE of " + snap + " " + name);
            long usedBefore = c.space().used();
            VirtualVolume v = c.cloneLinked(snap.id, name, nguid, uuid);
            return derived(snap, v, name, nguid, uuid, false, usedBefore);
        }

        MVol revert(Random r) {
            MVol v = pick(writable(), r);
            List<MVol> own = snapshots().stream().filter(s -> s.parent == v.id && s.size == v.size).toList();
            MVol s = !own.isEmpty() && r.nextInt(10) < 7 ? pick(own, r) : pick(snapshots(), r);
            if (r.nextInt(10) == 0) {
                note("REVERT (refused: " + s + " onto itself / a volume as the source)");
                refused(() -> c.revert(s.id, s.id));
                refused(() -> c.revert(v.id, v.id));
            }
            if (s.size != v.size) {
                note("REVERT " + v + " to " + s + " (refused: sizes " + v.size + " and " + s.size + ")");
                refused(() -> c.revert(v.id, s.id));
                return v;
            }
            note("REVERT " + v + " to " + s);
            c.revert(v.id, s.id);
            v.pages = new TreeMap<>(s.pages);
            assertTrue(c.unsharedBitmap(v.id, s.id).isEmpty(), "after a revert nothing differs from the snapshot");
            return v;
        }

        MVol delete(Random r) {
            MVol m = any(r);
            note("DELETE " + m);
            VolumeDevice before = c.device(m.id);
            c.deleteVolume(m.id);
            vols.remove(m.id);
            assertThrows(VolumeException.class, () -> c.volume(m.id), "a deleted volume is gone");
            assertThrows(VolumeException.class, () -> c.device(m.id), "a deleted volume has no device");
            assertThrows(VolumeException.class, () -> c.deleteVolume(m.id), "deleting twice is refused");
            ByteBuf dst = Unpooled.buffer(m.blockSize);
            assertEquals(IoCompletion.EIO, VolumeIo.await(f -> before.read(0, m.blockSize, dst, f, VolumeIo.DONE)),
                    "I/O to a deleted volume fails");
            assertEquals(0, before.size());
            return null;
        }

        MVol resize(Random r) {
            MVol m = pick(writable(), r);
            int p = r.nextInt(100);
            if (p < 10 && !snapshots().isEmpty()) {
                MVol s = pick(snapshots(), r);
                note("RESIZE " + s + " (refused: snapshots cannot be resized)");
                refused(() -> c.resizeVolume(s.id, s.size + MIB));
                return s;
            }
            if (p < 30 && m.size > m.blockSize) {
                long smaller = m.size - (long) m.blockSize * (1 + r.nextLong(m.size / m.blockSize - 1));
                note("RESIZE " + m + " to " + smaller + " (refused: shrink)");
                refused(() -> c.resizeVolume(m.id, smaller));
                return m;
            }
            if (p < 38) {
                long odd = m.size + m.blockSize / 2;
                note("RESIZE " + m + " to " + odd + " (refused: not a multiple of the block size)");
                refused(() -> c.resizeVolume(m.id, odd));
                return m;
            }
            long bigger;
            if (p < 50) {
                // Past 512 clusters, so the map gains a level (32 MiB with 64 KiB clusters).
                long target = Math.max(m.size, 512L * cs) + (long) m.blockSize * (1 + r.nextLong(8 * MIB / m.blockSize));
                bigger = Math.min(target, 96 * MIB) / m.blockSize * m.blockSize;
                bigger = Math.max(bigger, m.size);
            } else if (p < 55) {
                bigger = m.size;
            } else {
                bigger = m.size + (long) m.blockSize * r.nextLong(1, 8 * MIB / m.blockSize);
            }
            note("RESIZE " + m + " from " + m.size + " to " + bigger);
            long usedBefore = c.space().used();
            c.resizeVolume(m.id, bigger);
            m.size = bigger;
            assertEquals(bigger, c.device(m.id).size());
            assertEquals(usedBefore, c.space().used(), "growing a thin volume allocates nothing");
            verify(m, Math.max(0, bigger - 2L * cs) / m.blockSize * m.blockSize,
                    (int) (bigger - Math.max(0, bigger - 2L * cs) / m.blockSize * m.blockSize));
            return m;
        }

        static final String[] KEYS = {"VMW_VmID", "VMW_VVolName", "VMW_GosType", "VMW_VVolType", "k", "ключ", ""};

        MVol metadata(Random r) {
            MVol m = any(r);
            if (r.nextInt(10) == 0) {
                String longKey = "x".repeat(1025);
                note("METADATA " + m + " (refused: 1025-byte key)");
                refused(() -> c.setMetadata(m.id, longKey, "v"));
                assertEquals(m.metadata, c.metadata(m.id));
                return m;
            }
            String key = KEYS[r.nextInt(KEYS.length)];
            int p = r.nextInt(10);
            String value = p < 3 ? null : p == 3 ? "" : p == 4 ? "значение-" + r.nextInt(1000)
                    : Long.toHexString(r.nextLong()).repeat(1 + r.nextInt(4));
            note("METADATA " + m + " '" + key + "' = " + (value == null ? "(removed)" : "'" + value + "'"));
            c.setMetadata(m.id, key, value);
            if (value == null) {
                m.metadata.remove(key);
            } else {
                m.metadata.put(key, value);
            }
            assertEquals(m.metadata, c.metadata(m.id));
            return null;
        }

        MVol reopen() {
            note("REOPEN");
            List<VolumeState> before = engineState();
            Container.Space spaceBefore = c.space();
            c.close();
            c = Container.open(disk);
            assertEquals(before, engineState(), "a reopened container has exactly the volumes, maps and metadata it had");
            assertEquals(spaceBefore, c.space(), "and the same space");
            assertTrue(c.recoveryMillis() >= 0);
            checkFreeList();
            fullCheck();
            return null;
        }

        MVol writeSnapshot(Random r) {
            MVol s = pick(snapshots(), r);
            long[] range = range(s, r);
            note("WRITE to " + s + " [" + range[0] + ", +" + range[1] + ") (refused: EROFS)");
            VolumeDevice d = c.device(s.id);
            byte[] data = new byte[(int) range[1]];
            r.nextBytes(data);
            assertEquals(IoCompletion.EROFS, VolumeIo.write(d, range[0], data, false), "writes to a snapshot");
            assertEquals(IoCompletion.EROFS, VolumeIo.zeroes(d, range[0], range[1]), "write zeroes to a snapshot");
            assertEquals(IoCompletion.EROFS, VolumeIo.deallocate(d, range[0], range[1]), "deallocate on a snapshot");
            stats.refusals += 3;
            verify(s, range[0], (int) range[1]);
            return s;
        }

        MVol outOfRange(Random r) {
            MVol m = any(r);
            VolumeDevice d = c.device(m.id);
            int bs = m.blockSize;
            int p = r.nextInt(4);
            byte[] data = new byte[2 * bs];
            r.nextBytes(data);
            long off = p == 0 ? m.size - bs : p == 1 ? bs / 2 : p == 2 ? m.size : m.size + 8L * bs;
            note("OUT_OF_RANGE on " + m + " at " + off + " length " + data.length);
            int expectW = m.readOnly && p != 1 ? IoCompletion.EROFS : IoCompletion.ERANGE;
            int w = VolumeIo.write(d, off, data, false);
            if (m.readOnly) {
                assertTrue(w == IoCompletion.EROFS || w == IoCompletion.ERANGE, "bad write to a snapshot: errno " + w);
            } else {
                assertEquals(expectW, w, "a write out of range or misaligned");
            }
            assertEquals(IoCompletion.ERANGE, VolumeIo.readErrno(d, off, data.length), "a read out of range or misaligned");
            if (!m.readOnly) {
                assertEquals(IoCompletion.ERANGE, VolumeIo.zeroes(d, off, data.length), "write zeroes out of range");
                assertEquals(IoCompletion.ERANGE, VolumeIo.deallocate(d, off, data.length), "deallocate out of range");
            }
            stats.refusals += 4;
            verify(m, Math.max(0, m.size - 4L * bs), (int) Math.min(m.size, 4L * bs));
            return m;
        }

        void refused(Runnable op) {
            stats.refusals++;
            assertThrows(VolumeException.class, op::run);
        }

        /** Deletes everything in random order: the container must be empty, and so after a reopen. */
        void finish() {
            kind = "FINISH";
            note("FINISH: flush, check everything, delete all in random order");
            if (!vols.isEmpty()) {
                assertEquals(IoCompletion.OK, VolumeIo.flush(c.device(vols.firstKey())));
                checkFreeList();
            }
            fullCheck();
            List<Long> ids = new ArrayList<>(vols.keySet());
            java.util.Collections.shuffle(ids, new Random(cfg.seed() ^ 0x5eed));
            for (long id : ids) {
                note("DELETE " + vols.get(id));
                c.deleteVolume(id);
                vols.remove(id);
                checkSpace();
            }
            assertEquals(0, c.space().used(), "an empty container uses nothing");
            assertTrue(c.volumes().isEmpty());
            note("REOPEN (empty)");
            c.close();
            c = Container.open(disk);
            assertTrue(c.volumes().isEmpty(), "an emptied container stays empty");
            assertEquals(0, c.space().used());
            assertEquals(capacity / cs, c.freeClusters(), "every cluster is free again");
        }

        // --- checks ---

        void verify(MVol m, long off, int len) {
            if (len <= 0) {
                return;
            }
            byte[] expected = m.read(off, len);
            VolumeDevice d = c.device(m.id);
            ByteBuf dst = Unpooled.buffer(len);
            int errno = VolumeIo.await(f -> d.read(off, len, dst, f, VolumeIo.DONE));
            assertEquals(IoCompletion.OK, errno, "read of " + m + " [" + off + ", +" + len + ")");
            assertEquals(len, dst.writerIndex(), "read advanced the buffer");
            byte[] actual = new byte[len];
            dst.getBytes(0, actual);
            if (!Arrays.equals(expected, actual)) {
                int i = Arrays.mismatch(expected, actual);
                long at = off + i;
                long lc = at / cs;
                fail(m + " reads wrong data at byte " + at + " (cluster " + lc + ", offset " + (at % cs) + "; read of ["
                        + off + ", +" + len + ")): expected " + hex(expected[i]) + " but read " + hex(actual[i])
                        + "; engine maps cluster " + lc + " -> " + c.volume(m.id).map.get(lc)
                        + "; model page " + (at / PAGE) + (m.pages.containsKey(at / PAGE) ? " holds data" : " is zeroes"));
            }
        }

        static String hex(byte b) {
            return String.format("0x%02x", b & 0xff);
        }

        /** space() against the maps: used is exactly the distinct physical clusters the live volumes hold. */
        void checkSpace() {
            Container.Space sp = c.space();
            Set<Long> physical = new HashSet<>();
            long sumAllocated = 0;
            long provisioned = 0;
            for (MVol m : vols.values()) {
                c.volume(m.id).map.forEachMapped((lc, pc) -> {
                    physical.add(pc);
                    return 0;
                });
                sumAllocated += c.allocatedBytes(m.id);
                if (!m.readOnly) {
                    provisioned += m.size;
                }
            }
            assertEquals(physical.size() * (long) cs, sp.used(),
                    "space().used() is the distinct physical clusters live volumes map (" + physical.size() + " clusters); " + sp);
            assertTrue(sp.used() <= sumAllocated, "used " + sp.used() + " <= sum of allocated " + sumAllocated);
            assertEquals(capacity, sp.capacity());
            assertEquals(sp.capacity() - sp.used(), sp.free());
            assertEquals(provisioned, sp.provisioned(), "provisioned");
            assertEquals(writable().size(), sp.volumes(), "volume count");
            assertEquals(snapshots().size(), sp.snapshots(), "snapshot count");
            assertEquals(vols.keySet(), c.volumes().stream().map(VirtualVolume::id).collect(Collectors.toSet()), "the volume list");
            if (vols.isEmpty()) {
                assertEquals(0, sp.used(), "with no volumes nothing is used");
            }
        }

        /** After a completed flush (or a reopen) every cluster nobody maps is free for use again. */
        void checkFreeList() {
            assertEquals(capacity / cs - c.space().used() / cs, c.freeClusters(),
                    "after a commit, free clusters + used clusters = capacity");
        }

        void checkAttributes(MVol m) {
            VirtualVolume v = c.volume(m.id);
            assertEquals(m.name, v.name());
            assertEquals(m.type, v.type());
            assertEquals(m.size, v.size(), "size of " + m);
            assertEquals(m.blockSize, v.blockSize());
            assertEquals(HexFormat.of().formatHex(m.nguid), HexFormat.of().formatHex(v.nguid()));
            assertEquals(m.uuid, v.uuid());
            assertEquals(m.readOnly, v.readOnly());
            assertEquals(m.parent, v.parentId(), "parent of " + m);
            assertEquals(m.metadata, c.metadata(m.id), "metadata of " + m);
            assertEquals(m.size, c.device(m.id).size());
        }

        void fullCheck() {
            sinceFullCheck = 0;
            checkSpace();
            for (MVol m : vols.values()) {
                checkAttributes(m);
                BitSet allocated = c.allocatedBitmap(m.id);
                long clusters = (m.size + cs - 1) / cs;
                assertTrue(allocated.length() <= clusters, "allocated bitmap of " + m + " ends inside the volume");
                assertEquals(allocated.cardinality() * (long) cs, c.allocatedBytes(m.id), "allocatedBytes = bitmap");
                BitSet missing = m.nonZeroClusters(cs);
                missing.andNot(allocated);
                assertTrue(missing.isEmpty(), "clusters " + missing + " of " + m + " hold data but are not in its allocated bitmap");
                verifyAll(m, allocated);
            }
            for (MVol s : snapshots()) {
                for (MVol v : vols.values()) {
                    if (v != s && (s.parent == v.id || v.parent == s.id)) {
                        BitSet differ = MVol.differing(v, s, cs);
                        differ.andNot(c.unsharedBitmap(v.id, s.id));
                        assertTrue(differ.isEmpty(), "clusters " + differ + " differ between " + v + " and " + s
                                + " but are not in the unshared bitmap");
                    }
                }
            }
        }

        /** Reads every 256 KiB that holds data in the model or is allocated in the engine; one block of the others. */
        void verifyAll(MVol m, BitSet allocated) {
            long chunk = Math.max(cs, 256 * 1024);
            for (long at = 0; at < m.size; at += chunk) {
                int len = (int) Math.min(chunk, m.size - at);
                boolean data = !m.pages.subMap(at / PAGE, (at + len + PAGE - 1) / PAGE).isEmpty();
                int fromCluster = (int) (at / cs);
                int toCluster = (int) ((at + len + cs - 1) / cs);
                boolean mapped = allocated.nextSetBit(fromCluster) >= 0 && allocated.nextSetBit(fromCluster) < toCluster;
                if (data || mapped) {
                    verify(m, at, len);
                } else if (at == 0) {
                    verify(m, at, m.blockSize);
                }
            }
        }

        List<VolumeState> engineState() {
            List<VolumeState> out = new ArrayList<>();
            for (VirtualVolume v : c.volumes()) {
                List<Long> map = new ArrayList<>();
                v.map.forEachMapped((lc, pc) -> {
                    map.add(lc);
                    map.add(pc);
                    return 0;
                });
                out.add(new VolumeState(v.id(), v.name(), v.type(), v.size(), v.blockSize(), HexFormat.of().formatHex(v.nguid()),
                        v.uuid(), v.readOnly(), v.parentId(), c.metadata(v.id()), map));
            }
            return out;
        }
    }
}
