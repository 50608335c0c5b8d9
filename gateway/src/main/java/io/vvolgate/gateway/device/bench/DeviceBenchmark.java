package io.vvolgate.gateway.device.bench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.FileBlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.IoUringBlockDevice;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A device backend alone, without the target or the network: 4 KiB (or {@code --bs}) random reads or writes
 * at a fixed queue depth on one {@link BlockDevice}, closed loop, for a warm-up and a measured duration; prints
 * IOPS, MiB/s and latency percentiles. It is the appliance-side half of the fio comparison of issue 4: the
 * same file, block size, queue depth and O_DIRECT as fio's io_uring engine.
 *
 * <pre>
 *   main thread ── submits QD operations, sleeps, samples ──▶
 *   device thread (io_uring reactor) ── completion: record latency, submit the next ──▶ device
 * </pre>
 *
 * <p>Buffers are page-aligned off-heap segments wrapped once per slot, so {@link IoUringBlockDevice} hands them
 * to the kernel as they are (no bounce copy) and nothing is allocated per I/O. Latencies are recorded on the
 * completing thread only; the main thread reads them after the run has stopped.
 *
 * <pre>
 *   java -cp CLASSPATH io.vvolgate.gateway.device.bench.DeviceBenchmark --path FILE --size 1g
 *        [--backend io_uring|file] [--pattern randread|randwrite] [--bs 4k] [--qd 32] [--duration 8] [--warmup 2]
 * </pre>
 */
public final class DeviceBenchmark {

    /** One I/O slot: its buffer and the time its current operation was submitted. */
    private static final class Slot {
        final ByteBuf buffer;
        long submitted;

        Slot(ByteBuf buffer) {
            this.buffer = buffer;
        }
    }

    private final BlockDevice device;
    private final boolean read;
    private final int blockSize;
    private final long blocks;
    private final Histogram latency = new Histogram(3_600_000_000_000L, 3);
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private volatile boolean recording;
    private volatile boolean stopping;
    private final AtomicLong outstanding = new AtomicLong();

    private final IoCompletion<Slot> done = this::completed;

    private DeviceBenchmark(BlockDevice device, boolean read, int blockSize) {
        this.device = device;
        this.read = read;
        this.blockSize = blockSize;
        this.blocks = device.size() / blockSize;
    }

    private void submit(Slot slot) {
        long offset = ThreadLocalRandom.current().nextLong(blocks) * blockSize;
        slot.submitted = System.nanoTime();
        outstanding.incrementAndGet();
        if (read) {
            slot.buffer.clear();
            device.read(offset, blockSize, slot.buffer, slot, done);
        } else {
            device.write(offset, blockSize, slot.buffer, false, slot, done);
        }
    }

    /** On the device's completion thread (or the caller's, for an inline device). */
    private void completed(Slot slot, int errno) {
        outstanding.decrementAndGet();
        if (errno != IoCompletion.OK) {
            errors.incrementAndGet();
        }
        if (recording) {
            latency.recordValue(Math.max(1, System.nanoTime() - slot.submitted));
            completed.incrementAndGet();
        }
        if (!stopping) {
            submit(slot);
        }
    }

    public static void main(String[] args) throws Exception {
        Path path = null;
        long size = 1L << 30;
        String backend = "io_uring";
        String pattern = "randread";
        int bs = 4096;
        int qd = 32;
        int duration = 8;
        int warmup = 2;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                usage();
                return;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(a + " needs a value");
            }
            String v = args[++i];
            switch (a) {
                case "--path" -> path = Path.of(v);
                case "--size" -> size = bytes(v);
                case "--backend" -> backend = v;
                case "--pattern" -> pattern = v;
                case "--bs" -> bs = (int) bytes(v);
                case "--qd" -> qd = Integer.parseInt(v);
                case "--duration" -> duration = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                default -> throw new IllegalArgumentException("unknown option " + a);
            }
        }
        if (path == null) {
            usage();
            System.exit(2);
        }
        boolean read = switch (pattern) {
            case "randread" -> true;
            case "randwrite" -> false;
            default -> throw new IllegalArgumentException("--pattern is randread or randwrite");
        };
        BlockDevice device = open(backend, path, size);
        try {
            run(device, backend, path, read, bs, qd, duration, warmup);
        } finally {
            device.close();
        }
    }

    private static BlockDevice open(String backend, Path path, long size) throws IOException {
        return switch (backend) {
            case "io_uring" -> {
                IoUringBlockDevice d = IoUringBlockDevice.open(path, size, 512);
                System.out.println("device: io_uring, " + (d.directIo() ? "O_DIRECT" : "buffered (" + d.directIoRefusal() + ")"));
                yield d;
            }
            case "file" -> {
                System.out.println("device: file (FileBlockDevice, buffered, blocking)");
                yield FileBlockDevice.open(path, size, 512);
            }
            default -> throw new IllegalArgumentException("--backend is io_uring or file");
        };
    }

    private static void run(BlockDevice device, String backend, Path path, boolean read, int bs, int qd,
                            int duration, int warmup) throws InterruptedException {
        DeviceBenchmark b = new DeviceBenchmark(device, read, bs);
        Arena arena = Arena.ofShared();
        Slot[] slots = new Slot[qd];
        for (int i = 0; i < qd; i++) {
            ByteBuf buf = Unpooled.wrappedBuffer(arena.allocate(bs, 4096).asByteBuffer()).clear();
            if (!read) {
                for (int j = 0; j < bs; j++) {
                    buf.setByte(j, j * 31 + i);
                }
                buf.writerIndex(bs);
            }
            slots[i] = new Slot(buf);
        }
        for (Slot s : slots) {
            b.submit(s);
        }
        Thread.sleep(warmup * 1000L);
        b.recording = true;
        long start = System.nanoTime();
        Thread.sleep(duration * 1000L);
        b.recording = false;
        long elapsed = System.nanoTime() - start;
        b.stopping = true;
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (b.outstanding.get() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        long n = b.completed.get();
        double iops = n * 1e9 / elapsed;
        Histogram h = b.latency;
        System.out.printf(Locale.ROOT, "%s %s bs=%d qd=%d file=%s IOPS=%.0f MiB/s=%.1f lat us p50=%.1f p99=%.1f p99.9=%.1f "
                        + "mean=%.1f errors=%d%n", backend, read ? "randread" : "randwrite", bs, qd, path, iops,
                iops * bs / (1 << 20), h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3,
                h.getValueAtPercentile(99.9) / 1e3, h.getMean() / 1e3, b.errors.get());
        arena.close();
    }

    private static long bytes(String v) {
        String s = v.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        char last = s.charAt(s.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            s = s.substring(0, s.length() - 1);
        }
        return Long.parseLong(s) * unit;
    }

    private static void usage() {
        System.out.println("""
                usage: DeviceBenchmark --path FILE [options]
                  --size BYTES       device size; an existing file must be exactly this size (1g)
                  --backend B        io_uring (IoUringBlockDevice, O_DIRECT) | file (FileBlockDevice) (io_uring)
                  --pattern P        randread | randwrite (randread)
                  --bs BYTES         block size (4k)
                  --qd Q             operations in flight (32)
                  --duration S       measured seconds (8)
                  --warmup S         seconds before measuring (2)""");
    }
}
