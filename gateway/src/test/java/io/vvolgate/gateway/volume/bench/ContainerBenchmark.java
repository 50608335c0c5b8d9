package io.vvolgate.gateway.volume.bench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.FileBlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.volume.Container;
import io.vvolgate.gateway.volume.Superblock;
import io.vvolgate.gateway.volume.VirtualVolume;
import io.vvolgate.gateway.volume.VolumeDevice;
import io.vvolgate.gateway.volume.VolumeType;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The storage engine's figures (issue 3, "Figures"), through the container's public API only:
 *
 * <ol>
 *   <li><b>snap</b>: snapshot and linked-clone time of a 1 GiB and a 1 TiB thin volume, each with 64 MiB
 *       written first (1024 cluster-sized writes spread evenly, so the 1 TiB map has three levels and the
 *       1 GiB map two), on a 2 TiB sparse file and on a 2 TiB (lazy) memory device. A snapshot commits
 *       (device flush, log block, flush); on the memory device the flush is free, so its figure is the cost
 *       without the commit's I/O. Median and p99; the ratio 1 TiB / 1 GiB should be about 1.</li>
 *   <li><b>many</b>: 10,000 thin volumes with 10 snapshots each in one container (one 4 KiB write per
 *       volume before each snapshot): time to create, heap used after, metadata bytes on the device, then
 *       close, {@link Container#open} (recovery) and its own {@link Container#recoveryMillis()}.</li>
 *   <li><b>cow</b>: the cost of the first 4 KiB write to a cluster after a snapshot (copy-on-write: a new
 *       cluster, the rest of the old one copied into it, a MAP record) against a plain 4 KiB overwrite of a
 *       cluster the volume already owns, for cluster sizes 4 KiB to 1 MiB, on a sparse file and on a memory
 *       device. For each sampled cluster, in turn: the first write after the snapshot, a flush, an overwrite
 *       of another 4 KiB of the same cluster, a flush; the write and the flush are timed apart. The first
 *       write ever to a cluster (allocation) is measured the same way before the snapshot.</li>
 * </ol>
 *
 * A program, not a test: {@code gateway/bench/container-bench.sh} builds and runs it. Options
 * ({@code --name=value}): {@code part} (all, snap, many, cow), {@code dir} (where sparse files go; the
 * working directory by default), {@code samples} (per figure, 200), {@code warmup} (untimed write + snapshot + clone rounds first, 500), {@code cluster} (bytes, 65536),
 * {@code volumes} (10000), {@code snapshots} (10), {@code many-device} (memory or file),
 * {@code snap-devices} (file,memory; also the devices of cow), {@code cow-clusters} (4096,16384,65536,262144,1048576).
 */
public final class ContainerBenchmark {
    private static final long KIB = 1024;
    private static final long MIB = KIB * KIB;
    private static final long GIB = MIB * KIB;
    private static final long TIB = GIB * KIB;

    private final Path dir;
    private final int samples;
    private final int warmup;
    private final int cluster;
    private final int volumes;
    private final int snapshots;
    private final String manyDevice;
    private final String[] snapDevices;
    private final Random random = new Random(42);

    private ContainerBenchmark(Path dir, int samples, int warmup, int cluster, int volumes, int snapshots, String manyDevice, String[] snapDevices) {
        this.dir = dir;
        this.samples = samples;
        this.warmup = warmup;
        this.cluster = cluster;
        this.volumes = volumes;
        this.snapshots = snapshots;
        this.manyDevice = manyDevice;
        this.snapDevices = snapDevices;
    }

    public static void main(String[] args) throws Exception {
        String part = "all";
        Path dir = Path.of(".");
        int samples = 200;
        int warmup = 500;
        int cluster = 64 * 1024;
        int volumes = 10_000;
        int snapshots = 10;
        String manyDevice = "memory";
        String snapDevices = "file,memory";
        String cowClusters = "4096,16384,65536,262144,1048576";
        for (String a : args) {
            String[] kv = a.replaceFirst("^--", "").split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException("options are --name=value, not " + a);
            }
            switch (kv[0]) {
                case "part" -> part = kv[1];
                case "dir" -> dir = Path.of(kv[1]);
                case "samples" -> samples = Integer.parseInt(kv[1]);
                case "warmup" -> warmup = Integer.parseInt(kv[1]);
                case "cluster" -> cluster = Integer.parseInt(kv[1]);
                case "volumes" -> volumes = Integer.parseInt(kv[1]);
                case "snapshots" -> snapshots = Integer.parseInt(kv[1]);
                case "many-device" -> manyDevice = kv[1];
                case "snap-devices" -> snapDevices = kv[1];
                case "cow-clusters" -> cowClusters = kv[1];
                default -> throw new IllegalArgumentException("unknown option " + kv[0]);
            }
        }
        ContainerBenchmark b = new ContainerBenchmark(dir, samples, warmup, cluster, volumes, snapshots, manyDevice, snapDevices.split(","));
        b.machine();
        long start = System.nanoTime();
        if (part.equals("all") || part.equals("snap")) {
            b.fsyncBaseline();
            for (String kind : b.snapDevices) {
                b.snapshotAndClone(kind);
            }
        }
        if (part.equals("all") || part.equals("many")) {
            b.manyVolumes();
        }
        if (part.equals("all") || part.equals("cow")) {
            for (String kind : b.snapDevices) {
                for (String cs : cowClusters.split(",")) {
                    b.copyOnWrite(kind, Integer.parseInt(cs));
                }
            }
        }
        System.out.printf(Locale.ROOT, "%ntotal %.1f s%n", (System.nanoTime() - start) / 1e9);
    }

    private void machine() throws IOException {
        String cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                .filter(l -> l.startsWith("model name")).map(l -> l.replaceFirst("^model name\\s*:\\s*", "")).findFirst().orElse("?");
        System.out.printf(Locale.ROOT, "machine: %d CPUs, %s; JDK %s %s; max heap %d MiB; cluster %d KiB; sparse files in %s%n",
                Runtime.getRuntime().availableProcessors(), cpu, System.getProperty("java.vm.name"),
                System.getProperty("java.runtime.version"), Runtime.getRuntime().maxMemory() / MIB, cluster / KIB,
                dir.toAbsolutePath().normalize());
    }

    // --- 1. snapshot and clone time ---

    /** What one device commit costs here: a 4 KiB write then flush (fdatasync) on a file. */
    private void fsyncBaseline() throws IOException {
        Path f = dir.resolve("fsync-baseline.img");
        Files.deleteIfExists(f);
        try (FileBlockDevice d = FileBlockDevice.open(f, 64 * MIB, 4096)) {
            ByteBuf b = pattern(4096);
            long[] t = new long[samples];
            for (int i = 0; i < samples; i++) {
                long at = (long) random.nextInt(16384) * 4096;
                long s = System.nanoTime();
                check(await(c -> d.write(at, 4096, b, false, c, DONE)), "write");
                check(await(c -> d.flush(c, DONE)), "flush");
                t[i] = System.nanoTime() - s;
            }
            System.out.printf(Locale.ROOT, "%nbaseline: 4 KiB pwrite + fdatasync on a file in %s: %s%n", dir, stats(t));
        } finally {
            Files.deleteIfExists(f);
        }
    }

    private void snapshotAndClone(String kind) throws IOException {
        long deviceSize = 2 * TIB;
        System.out.printf(Locale.ROOT, "%n== snapshot / linked clone, %s device of %d GiB (%s) ==%n", kind, deviceSize / GIB,
                kind.equals("file") ? "sparse file" : "lazy memory");
        Path file = dir.resolve("container-bench-snap.img");
        BlockDevice device = openDevice(kind, file, deviceSize);
        try {
            long heap0 = heapUsed();
            long s = System.nanoTime();
            Container c = Container.format(device, UUID.randomUUID(), cluster);
            long formatNanos = System.nanoTime() - s;
            long heap1 = heapUsed();
            Container.Space sp = c.space();
            System.out.printf(Locale.ROOT, "format: %.0f ms; heap of the empty container %d MiB (%d data clusters)%n",
                    formatNanos / 1e6, (heap1 - heap0) / MIB, sp.capacity() / cluster);

            // JIT warm-up on a small volume, untimed.
            VirtualVolume warm = c.createVolume("warm", VolumeType.DATA, 64 * MIB, 4096, nguid(), UUID.randomUUID());
            VolumeDevice wd = c.device(warm.id());
            fill(wd, 64 * MIB, 4 * MIB);
            for (int i = 0; i < warmup; i++) {
                write4k(wd, 64 * MIB);
                VirtualVolume sn = c.snapshot(warm.id(), "warm-s" + i, nguid(), UUID.randomUUID());
                c.cloneLinked(sn.id(), "warm-c" + i, nguid(), UUID.randomUUID());
            }

            // Both volumes filled first, then the samples interleaved (1 GiB, 1 TiB, 1 GiB, ...) so that JIT
            // warm-up, GC and device drift weigh on both sizes alike.
            long[] sizes = {GIB, TIB};
            String[] labels = {"1 GiB", "1 TiB"};
            VirtualVolume[] vols = new VirtualVolume[2];
            VolumeDevice[] vds = new VolumeDevice[2];
            long[][] snap = new long[2][samples];
            long[][] clone = new long[2][samples];
            long[] lastSnap = new long[2];
            for (int k = 0; k < 2; k++) {
                vols[k] = c.createVolume("v-" + labels[k], VolumeType.DATA, sizes[k], 4096, nguid(), UUID.randomUUID());
                vds[k] = c.device(vols[k].id());
                long w = System.nanoTime();
                fill(vds[k], sizes[k], 64 * MIB);
                System.out.printf(Locale.ROOT, "%s volume: 64 MiB written as %d spread %d KiB writes in %.0f ms%n", labels[k],
                        64 * MIB / cluster, cluster / KIB, (System.nanoTime() - w) / 1e6);
            }
            for (int i = 0; i < samples; i++) {
                for (int k = 0; k < 2; k++) {
                    write4k(vds[k], sizes[k]); // untimed: each snapshot freezes a different state
                    long t = System.nanoTime();
                    VirtualVolume sn = c.snapshot(vols[k].id(), labels[k] + "-s" + i, nguid(), UUID.randomUUID());
                    snap[k][i] = System.nanoTime() - t;
                    lastSnap[k] = sn.id();
                }
            }
            for (int i = 0; i < samples; i++) {
                for (int k = 0; k < 2; k++) {
                    long t = System.nanoTime();
                    c.cloneLinked(lastSnap[k], labels[k] + "-c" + i, nguid(), UUID.randomUUID());
                    clone[k][i] = System.nanoTime() - t;
                }
            }
            for (int k = 0; k < 2; k++) {
                System.out.printf(Locale.ROOT, "%s volume (%d clusters mapped):%n", labels[k], c.allocatedBytes(vols[k].id()) / cluster);
                System.out.printf(Locale.ROOT, "  snapshot     %s%n", stats(snap[k]));
                System.out.printf(Locale.ROOT, "  linked clone %s%n", stats(clone[k]));
            }
            double[] medians = {median(snap[0]), median(clone[0]), median(snap[1]), median(clone[1])};
            System.out.printf(Locale.ROOT, "ratio 1 TiB / 1 GiB (medians): snapshot %.2f, linked clone %.2f%n",
                    medians[2] / medians[0], medians[3] / medians[1]);

            sp = c.space();
            int count = c.volumes().size();
            c.close();
            c = null;
            long heap2 = heapUsed();
            s = System.nanoTime();
            Container reopened = Container.open(device);
            long openNanos = System.nanoTime() - s;
            System.out.printf(Locale.ROOT, "reopen of this container (%d volumes and snapshots): %.0f ms (recoveryMillis %d); "
                            + "space same after: %b; heap of the reopened container %d MiB%n",
                    count, openNanos / 1e6, reopened.recoveryMillis(), reopened.space().equals(sp),
                    (heapUsed() - heap2) / MIB);
            reopened.close();
            if (device instanceof FileBlockDevice) {
                System.out.printf(Locale.ROOT, "sparse file: %d MiB allocated on disk of %d GiB%n",
                        allocatedOnDisk(file) / MIB, deviceSize / GIB);
            }
        } finally {
            device.close();
            Files.deleteIfExists(file);
        }
    }

    // --- 3. the first write after a snapshot against an overwrite ---

    private void copyOnWrite(String kind, int clusterSize) throws IOException {
        long deviceSize = 8 * GIB;
        long volumeSize = GIB;
        Path file = dir.resolve("container-bench-cow.img");
        BlockDevice device = openDevice(kind, file, deviceSize);
        try {
            Container c = Container.format(device, UUID.randomUUID(), clusterSize);
            // Untimed warm-up on a volume of its own: the same sequence, so the JIT has seen every path.
            VirtualVolume warm = c.createVolume("warm", VolumeType.DATA, 64 * MIB, 4096, nguid(), UUID.randomUUID());
            cowRound(c, c.device(warm.id()), warm.id(), clusterSize, 64 * MIB, Math.min(warmup, (int) (64 * MIB / clusterSize)), null);
            VirtualVolume v = c.createVolume("cow", VolumeType.DATA, volumeSize, 4096, nguid(), UUID.randomUUID());
            long[][] t = new long[8][samples];
            cowRound(c, c.device(v.id()), v.id(), clusterSize, volumeSize, samples, t);
            System.out.printf(Locale.ROOT, "%n== 4 KiB writes, %s device, %d KiB clusters (n=%d distinct clusters) ==%n",
                    kind.equals("file") ? "sparse file" : "memory", clusterSize / KIB, samples);
            String[] labels = {"first write ever (allocate)", "  its flush", "overwrite", "  its flush",
                    "first write after snapshot (CoW)", "  its flush", "overwrite after the CoW", "  its flush"};
            for (int i = 0; i < labels.length; i++) {
                System.out.printf(Locale.ROOT, "  %-34s %s%n", labels[i], stats(t[i]));
            }
            System.out.printf(Locale.ROOT, "  CoW / overwrite (medians): write %.2f, write + flush %.2f; snapshot space per 4 KiB written after it: %d KiB%n",
                    median(t[4]) / median(t[6]), (median(t[4]) + median(t[5])) / (median(t[6]) + median(t[7])), clusterSize / KIB);
            c.close();
        } finally {
            device.close();
            Files.deleteIfExists(file);
        }
    }

    /**
     * {@code n} distinct clusters of the volume: allocate each with a 4 KiB write, overwrite another 4 KiB of
     * it; snapshot; then the first write after the snapshot and an overwrite, each write followed by a flush.
     * Timings go to {@code t} (null: untimed).
     */
    private void cowRound(Container c, VolumeDevice d, long volumeId, int clusterSize, long volumeSize, int n, long[][] t) {
        long stride = volumeSize / n / clusterSize * clusterSize;
        if (stride < clusterSize) {
            throw new IllegalArgumentException(n + " distinct clusters of " + clusterSize + " B do not fit in " + volumeSize + " B");
        }
        int blocksPerCluster = clusterSize / 4096;
        for (int phase = 0; phase < 2; phase++) {
            if (phase == 1) {
                c.snapshot(volumeId, "s-" + random.nextLong(), nguid(), UUID.randomUUID());
            }
            for (int i = 0; i < n; i++) {
                long base = i * stride;
                long first = base + (long) random.nextInt(blocksPerCluster) * 4096;
                long second = base + (long) random.nextInt(blocksPerCluster) * 4096;
                long s0 = System.nanoTime();
                check(await(f -> d.write(first, 4096, block4k, false, f, DONE)), "4 KiB write");
                long s1 = System.nanoTime();
                check(await(f -> d.flush(f, DONE)), "flush");
                long s2 = System.nanoTime();
                check(await(f -> d.write(second, 4096, block4k, false, f, DONE)), "4 KiB write");
                long s3 = System.nanoTime();
                check(await(f -> d.flush(f, DONE)), "flush");
                long s4 = System.nanoTime();
                if (t != null) {
                    t[phase * 4][i] = s1 - s0;
                    t[phase * 4 + 1][i] = s2 - s1;
                    t[phase * 4 + 2][i] = s3 - s2;
                    t[phase * 4 + 3][i] = s4 - s3;
                }
            }
        }
    }

    // --- 2. many volumes and snapshots ---

    private void manyVolumes() throws IOException {
        long volumeSize = 16 * GIB;
        long deviceSize = 64 * GIB;
        System.out.printf(Locale.ROOT, "%n== %,d thin volumes of %d GiB x %d snapshots, one 4 KiB write per volume before each snapshot; "
                + "%s device of %d GiB ==%n", volumes, volumeSize / GIB, snapshots, manyDevice, deviceSize / GIB);
        Path file = dir.resolve("container-bench-many.img");
        BlockDevice device = openDevice(manyDevice, file, deviceSize);
        try {
            long heap0 = heapUsed();
            Container c = Container.format(device, UUID.randomUUID(), cluster);
            long heapEmpty = heapUsed();
            long[] ids = new long[volumes];
            VolumeDevice[] devs = new VolumeDevice[volumes];
            long start = System.nanoTime();
            long t = start;
            String failure = null;
            int round = -1;
            int done = 0;
            try {
                for (int i = 0; i < volumes; i++) {
                    ids[i] = c.createVolume("vm-" + i, VolumeType.DATA, volumeSize, 4096, nguid(), UUID.randomUUID()).id();
                    devs[i] = c.device(ids[i]);
                }
                System.out.printf(Locale.ROOT, "create %,d volumes: %.1f s%n", volumes, (System.nanoTime() - t) / 1e9);
                for (round = 0; round < snapshots; round++) {
                    t = System.nanoTime();
                    for (done = 0; done < volumes; done++) {
                        write4k(devs[done], volumeSize);
                        c.snapshot(ids[done], "vm-" + done + "-s" + round, nguid(), UUID.randomUUID());
                    }
                    System.out.printf(Locale.ROOT, "round %d: %,d writes + snapshots in %.1f s%n", round + 1, volumes, (System.nanoTime() - t) / 1e9);
                }
            } catch (RuntimeException e) {
                failure = e.toString();
                System.out.printf(Locale.ROOT, "FAILED in round %d at volume %d after %.1f s: %s%n", round + 1, done,
                        (System.nanoTime() - start) / 1e9, e);
            }
            double createSeconds = (System.nanoTime() - start) / 1e9;
            long heapFull = heapUsed();
            Container.Space sp = c.space();
            int count = c.volumes().size();
            System.out.printf(Locale.ROOT, "%s: %,d volumes + %,d snapshots in %.1f s (%.0f management ops/s)%n",
                    failure == null ? "created" : "reached", sp.volumes(), sp.snapshots(), createSeconds, count / createSeconds);
            System.out.printf(Locale.ROOT, "heap used after GC: %d MiB total, %d MiB for the empty container, %d MiB more with the volumes "
                            + "(%.0f bytes per volume or snapshot)%n",
                    (heapFull - heap0) / MIB, (heapEmpty - heap0) / MIB, (heapFull - heapEmpty) / MIB, (double) (heapFull - heapEmpty) / count);
            System.out.printf(Locale.ROOT, "data used: %d MiB (%,d clusters)%n", sp.used() / MIB, sp.used() / cluster);
            long allocatedBefore = device instanceof MemoryBlockDevice m ? m.allocatedBytes() : -1;
            c.close();
            long[] meta = metadataOnDevice(device);
            System.out.printf(Locale.ROOT, "metadata on the device: %,d non-zero 4 KiB blocks (%d MiB) before the data area, which is %d MiB "
                    + "(superblocks, log %d MiB, 2 checkpoint areas)%n", meta[0], meta[0] * 4096 / MIB, meta[1] / MIB, meta[2] / MIB);
            if (allocatedBefore >= 0) {
                System.out.printf(Locale.ROOT, "memory device: %d MiB allocated%n", allocatedBefore / MIB);
            }

            c = null;
            ids = null;
            devs = null;
            long heapClosed = heapUsed();
            t = System.nanoTime();
            Container reopened = Container.open(device);
            double openMs = (System.nanoTime() - t) / 1e6;
            long heapReopened = heapUsed();
            Container.Space after = reopened.space();
            System.out.printf(Locale.ROOT, "Container.open (recovery): %.0f ms wall, recoveryMillis %d; %,d volumes + %,d snapshots back, "
                            + "space same as before close: %b; heap of the reopened container %d MiB%n",
                    openMs, reopened.recoveryMillis(), after.volumes(), after.snapshots(), after.equals(sp),
                    (heapReopened - heapClosed) / MIB);
            reopened.close();
            if (device instanceof FileBlockDevice) {
                System.out.printf(Locale.ROOT, "sparse file: %d MiB allocated on disk%n", allocatedOnDisk(file) / MIB);
            }
        } finally {
            device.close();
            Files.deleteIfExists(file);
        }
    }

    /**
     * Non-zero 4 KiB blocks in front of the first data cluster (superblocks, log, checkpoint areas), read
     * straight from the device; also that area's size and the log's length.
     */
    private static long[] metadataOnDevice(BlockDevice device) {
        ByteBuf sbs = Unpooled.buffer(2 * Superblock.SIZE);
        check(await(c -> device.read(0, 2 * Superblock.SIZE, sbs, c, DONE)), "superblock read");
        Superblock sb = Superblock.newest(Superblock.readFrom(sbs, 0), Superblock.readFrom(sbs, Superblock.SIZE));
        int chunk = (int) MIB;
        ByteBuf buf = Unpooled.directBuffer(chunk);
        long nonZero = 0;
        try {
            for (long at = 0; at < sb.dataOffset(); at += chunk) {
                int n = (int) Math.min(chunk, sb.dataOffset() - at);
                buf.clear();
                long from = at;
                check(await(c -> device.read(from, n, buf, c, DONE)), "metadata read");
                for (int b = 0; b < n; b += 4096) {
                    for (int i = b; i < b + 4096; i += 8) {
                        if (buf.getLong(i) != 0) {
                            nonZero++;
                            break;
                        }
                    }
                }
            }
        } finally {
            buf.release();
        }
        return new long[] {nonZero, sb.dataOffset(), sb.logLength()};
    }

    // --- helpers ---

    private BlockDevice openDevice(String kind, Path file, long size) throws IOException {
        return switch (kind) {
            case "memory" -> new MemoryBlockDevice(size, 4096);
            case "file" -> {
                Files.deleteIfExists(file);
                yield FileBlockDevice.open(file, size, 4096);
            }
            default -> throw new IllegalArgumentException("device kind " + kind + " (file or memory)");
        };
    }

    /** {@code total} bytes in cluster-sized writes spread evenly over the volume, then a flush. */
    private void fill(VolumeDevice d, long size, long total) {
        int writes = (int) (total / cluster);
        long stride = size / writes / cluster * cluster;
        ByteBuf b = pattern(cluster);
        for (int i = 0; i < writes; i++) {
            long at = i * stride;
            check(await(c -> d.write(at, cluster, b, false, c, DONE)), "fill write");
        }
        check(await(c -> d.flush(c, DONE)), "fill flush");
    }

    private final ByteBuf block4k = pattern(4096);

    private void write4k(VolumeDevice d, long size) {
        long at = (long) (random.nextDouble() * (size / 4096)) * 4096;
        check(await(c -> d.write(at, 4096, block4k, false, c, DONE)), "4 KiB write");
    }

    private ByteBuf pattern(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return Unpooled.wrappedBuffer(b);
    }

    private byte[] nguid() {
        byte[] b = new byte[16];
        random.nextBytes(b);
        return b;
    }

    private static final IoCompletion<CompletableFuture<Integer>> DONE = (f, errno) -> f.complete(errno);

    private static int await(Consumer<CompletableFuture<Integer>> call) {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        call.accept(f);
        try {
            return f.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("I/O did not complete: " + e, e);
        }
    }

    private static void check(int errno, String what) {
        if (errno != IoCompletion.OK) {
            throw new IllegalStateException(what + " failed with errno " + errno);
        }
    }

    private static long heapUsed() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static long allocatedOnDisk(Path file) throws IOException {
        // st_blocks is not in the standard attributes: ask du, which every Linux has.
        try {
            Process p = new ProcessBuilder("du", "-B1", file.toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            return Long.parseLong(out.split("\\s+")[0]);
        } catch (InterruptedException | NumberFormatException e) {
            return -1;
        }
    }

    private static double median(long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static String stats(long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        int p99 = (int) Math.ceil(0.99 * s.length) - 1;
        return String.format(Locale.ROOT, "n=%d  median %s  p99 %s  min %s  max %s", s.length, us(s[s.length / 2]), us(s[p99]),
                us(s[0]), us(s[s.length - 1]));
    }

    private static String us(long nanos) {
        return nanos < 1_000_000 ? String.format(Locale.ROOT, "%.1f us", nanos / 1e3) : String.format(Locale.ROOT, "%.2f ms", nanos / 1e6);
    }
}
