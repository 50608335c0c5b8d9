package io.vvolgate.gateway.host.bench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.EventLoop;
import io.vvolgate.gateway.host.AsyncNvmeTcpHost;
import io.vvolgate.gateway.host.AsyncNvmeTcpQueue;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A load generator for NVMe/TCP targets on {@link AsyncNvmeTcpHost}: random or sequential reads or writes
 * of one block size at a fixed queue depth per connection, for a warm-up and then a measured duration;
 * prints IOPS, MiB/s, latency percentiles (HdrHistogram) and the heap bytes the host's event loops
 * allocated per I/O. {@code --suite} runs the matrix of issue 4.
 *
 * <pre>
 *   main thread ──connect, start, sleep, sample──▶ (blocks)
 *   event loop k ──▶ Worker k ⇄ AsyncNvmeTcpQueue k ⇄ TCP ⇄ target
 *                     (each completion submits the next command on the same loop: closed loop, QD constant)
 * </pre>
 *
 * <p>Threads: a {@link Worker} belongs to its queue's event loop; the main thread only reads its results
 * after the run's latch. Latency is measured from submission (before the PDU is even written) to the
 * completion's arrival, so it includes host-side batching.
 */
public final class LoadGenerator {

    /** The four access patterns. */
    public enum Pattern {
        RANDREAD(true, true), RANDWRITE(false, true), SEQREAD(true, false), SEQWRITE(false, false);

        final boolean read;
        final boolean random;

        Pattern(boolean read, boolean random) {
            this.read = read;
            this.random = random;
        }

        static Pattern parse(String s) {
            return valueOf(s.toUpperCase(Locale.ROOT));
        }
    }

    /** One run: pattern, block size in bytes, queue depth per connection. */
    public record Job(Pattern pattern, int blockSize, int queueDepth) {
    }

    /** What a run measured. */
    public record Result(Job job, int connections, long ios, long errors, double seconds, double p50us,
                         double p99us, double p999us, double maxUs, double allocatedBytesPerIo,
                         double targetCpuUsPerIo, double hostCpuUsPerIo) {
        double iops() {
            return ios / seconds;
        }

        double mibPerSecond() {
            return ios * (double) job.blockSize() / seconds / (1 << 20);
        }
    }

    /** The matrix of issue 4. */
    public static final List<Job> SUITE = List.of(
            new Job(Pattern.RANDREAD, 4096, 1), new Job(Pattern.RANDREAD, 4096, 32), new Job(Pattern.RANDREAD, 4096, 128),
            new Job(Pattern.RANDWRITE, 4096, 1), new Job(Pattern.RANDWRITE, 4096, 32), new Job(Pattern.RANDWRITE, 4096, 128),
            new Job(Pattern.SEQREAD, 128 * 1024, 16), new Job(Pattern.SEQWRITE, 128 * 1024, 16));

    private static final String USAGE = """
            usage: LoadGenerator --nqn NQN [options]
              --address A        target address (127.0.0.1)
              --port P           target port (4420)
              --nqn NQN          subsystem NQN (required)
              --nsid N           namespace (1)
              --connections C    I/O queues, one TCP connection each (1)
              --threads T        host event loop threads (1)
              --qd Q             commands in flight per connection (32)
              --bs BYTES         block size, e.g. 4096 or 128k (4k)
              --pattern P        randread | randwrite | seqread | seqwrite (randread)
              --duration S       measured seconds (10)
              --warmup S         seconds before measuring (2)
              --region BYTES     the part of the namespace used, from LBA 0, e.g. 512m (whole namespace)
              --prefill          write the region once (128 KiB, QD 16) before the runs
              --suite            run the issue-4 matrix: 4k randread/randwrite at QD 1, 32, 128; 128k seqread/seqwrite at QD 16
              --label TEXT       a name printed with the results (e.g. memory, file)
              --target-pid PID   the target's process on this machine: report its CPU time per I/O (from /proc)
              --poll             the host's event loops busy-poll (spin on epoll_wait) instead of sleeping, like a
                                 polled initiator (SPDK's perf); each host thread then takes a whole core
            """;

    private LoadGenerator() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new java.util.HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--suite") || a.equals("--prefill") || a.equals("--poll")) {
                o.put(a, "true");
            } else if (a.equals("--help") || a.equals("-h")) {
                System.out.print(USAGE);
                return;
            } else if (a.startsWith("--") && i + 1 < args.length) {
                o.put(a, args[++i]);
            } else {
                System.err.println("LoadGenerator: unknown argument " + a);
                System.err.print(USAGE);
                System.exit(2);
            }
        }
        String nqn = o.get("--nqn");
        if (nqn == null) {
            System.err.print(USAGE);
            System.exit(2);
        }
        String address = o.getOrDefault("--address", "127.0.0.1");
        int port = Integer.parseInt(o.getOrDefault("--port", "4420"));
        int nsid = Integer.parseInt(o.getOrDefault("--nsid", "1"));
        int connections = Integer.parseInt(o.getOrDefault("--connections", "1"));
        int threads = Integer.parseInt(o.getOrDefault("--threads", "1"));
        double duration = Double.parseDouble(o.getOrDefault("--duration", "10"));
        double warmup = Double.parseDouble(o.getOrDefault("--warmup", "2"));
        boolean suite = o.containsKey("--suite");
        String label = o.getOrDefault("--label", "");
        targetPid = Long.parseLong(o.getOrDefault("--target-pid", "0"));
        List<Job> jobs = suite ? SUITE : List.of(new Job(Pattern.parse(o.getOrDefault("--pattern", "randread")),
                (int) bytes(o.getOrDefault("--bs", "4k")), Integer.parseInt(o.getOrDefault("--qd", "32"))));
        int depth = jobs.stream().mapToInt(Job::queueDepth).max().orElseThrow();
        boolean poll = o.containsKey("--poll");
        io.netty.channel.EventLoopGroup group = AsyncNvmeTcpQueue.newEventLoopGroup(threads, poll);
        var options = new AsyncNvmeTcpHost.Options(address, port, nqn, AsyncNvmeTcpHost.DEFAULT_HOST_NQN, connections,
                Math.max(depth, 16), false, false, group, threads);
        try (AsyncNvmeTcpHost host = AsyncNvmeTcpHost.connect(options)) {
            AsyncNvmeTcpHost.NamespaceInfo ns = host.identifyNamespace(nsid);
            long region = o.containsKey("--region") ? Math.min(bytes(o.get("--region")), ns.bytes()) : ns.bytes();
            System.out.printf(Locale.ROOT, "target %s:%d %s nsid %d: %d MiB, %d-byte blocks; region %d MiB; %d connection(s), %d host thread(s)%s%n",
                    address, port, nqn, nsid, ns.bytes() >> 20, ns.blockSize(), region >> 20, connections, threads,
                    poll ? ", polling" : "");
            if (o.containsKey("--prefill")) {
                long t = System.nanoTime();
                long written = prefill(host, ns, region);
                System.out.printf(Locale.ROOT, "prefill: wrote %d MiB in %.1f s%n", written >> 20, (System.nanoTime() - t) / 1e9);
            }
            List<Result> results = new ArrayList<>();
            for (Job job : jobs) {
                Result r = run(host, ns, region, job, warmup, duration);
                results.add(r);
                System.out.println(line(label, r));
                System.out.flush();
            }
            if (suite) {
                printTable(System.out, label, results);
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    static long bytes(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT).replace("ib", "").replace("b", "");
        long unit = 1;
        char last = t.charAt(t.length() - 1);
        switch (last) {
            case 'k' -> unit = 1L << 10;
            case 'm' -> unit = 1L << 20;
            case 'g' -> unit = 1L << 30;
            default -> { }
        }
        return Long.parseLong(unit == 1 ? t : t.substring(0, t.length() - 1)) * unit;
    }

    /** Writes the whole region once with sequential 128 KiB writes; returns the bytes written. */
    static long prefill(AsyncNvmeTcpHost host, AsyncNvmeTcpHost.NamespaceInfo ns, long region) throws Exception {
        Job job = new Job(Pattern.SEQWRITE, 128 * 1024, 16);
        List<Worker> workers = workers(host, ns, region, job, Long.MIN_VALUE, Long.MAX_VALUE);
        for (Worker w : workers) {
            w.limit = region / host.ioQueueCount() / job.blockSize();
        }
        start(workers);
        for (Worker w : workers) {
            if (!w.done.await(600, TimeUnit.SECONDS)) {
                throw new IOException("prefill did not finish");
            }
            w.release();
        }
        return workers.stream().mapToLong(w -> w.completedTotal).sum() * job.blockSize();
    }

    private static List<Worker> workers(AsyncNvmeTcpHost host, AsyncNvmeTcpHost.NamespaceInfo ns, long region, Job job,
                                        long measureStart, long measureEnd) {
        if (job.blockSize() % ns.blockSize() != 0) {
            throw new IllegalArgumentException("block size " + job.blockSize() + " is not a multiple of the LBA size " + ns.blockSize());
        }
        List<Worker> workers = new ArrayList<>();
        int n = host.ioQueueCount();
        for (int i = 0; i < n; i++) {
            workers.add(new Worker(host.io(i), ns, region, job, i, n, measureStart, measureEnd));
        }
        return workers;
    }

    private static void start(List<Worker> workers) {
        for (Worker w : workers) {
            w.queue.eventLoop().execute(w::start);
        }
    }

    /** The target's process on this machine (loopback), whose CPU time per I/O is reported; 0 = none. */
    static long targetPid;

    /**
     * CPU time of every thread of process {@code pid} in nanoseconds, from /proc/PID/task/TID/schedstat (first field:
     * time on a CPU); -1 if it cannot be read. CPU time per I/O does not depend on how many other processes share
     * the cores, which throughput on this shared machine does.
     */
    static long processCpuNanos(long pid) {
        if (pid <= 0) {
            return -1;
        }
        long sum = 0;
        try (var tasks = java.nio.file.Files.list(java.nio.file.Path.of("/proc", Long.toString(pid), "task"))) {
            for (var task : (Iterable<java.nio.file.Path>) tasks::iterator) {
                try {
                    String stat = java.nio.file.Files.readString(task.resolve("schedstat"));
                    sum += Long.parseLong(stat.substring(0, stat.indexOf(' ')));
                } catch (IOException | RuntimeException e) {
                    // a thread that ended meanwhile
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return sum;
    }

    static Result run(AsyncNvmeTcpHost host, AsyncNvmeTcpHost.NamespaceInfo ns, long region, Job job,
                      double warmupSeconds, double durationSeconds) throws Exception {
        long t0 = System.nanoTime();
        long measureStart = t0 + (long) (warmupSeconds * 1e9);
        long measureEnd = measureStart + (long) (durationSeconds * 1e9);
        List<Worker> workers = workers(host, ns, region, job, measureStart, measureEnd);
        Map<EventLoop, Boolean> loops = new IdentityHashMap<>();
        for (Worker w : workers) {
            loops.put(w.queue.eventLoop(), Boolean.TRUE);
        }
        start(workers);
        sleepUntil(measureStart);
        long allocStart = allocated(loops.keySet());
        long targetCpuStart = processCpuNanos(targetPid);
        long hostCpuStart = processCpuNanos(ProcessHandle.current().pid());
        sleepUntil(measureEnd);
        long allocEnd = allocated(loops.keySet());
        long targetCpuEnd = processCpuNanos(targetPid);
        long hostCpuEnd = processCpuNanos(ProcessHandle.current().pid());
        Histogram all = new Histogram(3);
        long ios = 0;
        long errors = 0;
        for (Worker w : workers) {
            if (!w.done.await(30, TimeUnit.SECONDS)) {
                throw new IOException("queue " + w.index + " did not drain within 30 s after the run");
            }
            all.add(w.histogram);
            ios += w.measured;
            errors += w.errors;
            w.release();
        }
        double seconds = (measureEnd - measureStart) / 1e9;
        double allocPerIo = ios == 0 ? Double.NaN : (allocEnd - allocStart) / (double) ios;
        double targetCpu = ios == 0 || targetCpuStart < 0 || targetCpuEnd < 0 ? Double.NaN
                : (targetCpuEnd - targetCpuStart) / 1e3 / ios;
        double hostCpu = ios == 0 || hostCpuStart < 0 ? Double.NaN : (hostCpuEnd - hostCpuStart) / 1e3 / ios;
        return new Result(job, workers.size(), ios, errors, seconds, all.getValueAtPercentile(50) / 1000.0,
                all.getValueAtPercentile(99) / 1000.0, all.getValueAtPercentile(99.9) / 1000.0,
                all.getMaxValue() / 1000.0, allocPerIo, targetCpu, hostCpu);
    }

    private static void sleepUntil(long deadline) throws InterruptedException {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }

    /** Heap bytes the event loop threads allocated so far, asked of each on its own thread. */
    private static long allocated(Iterable<EventLoop> loops) throws Exception {
        long sum = 0;
        for (EventLoop loop : loops) {
            sum += loop.submit(LoadGenerator::currentThreadAllocated).get(10, TimeUnit.SECONDS);
        }
        return sum;
    }

    private static long currentThreadAllocated() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    static String line(String label, Result r) {
        return String.format(Locale.ROOT,
                "%s%-9s bs=%-6d qd=%-3d conns=%d  IOPS=%9.0f  MiB/s=%8.1f  lat us p50=%8.1f p99=%8.1f p99.9=%8.1f max=%8.1f  alloc/IO=%.1f B  cpu us/IO target=%.2f host=%.2f  errors=%d",
                label.isEmpty() ? "" : label + " ", r.job().pattern().name().toLowerCase(Locale.ROOT), r.job().blockSize(),
                r.job().queueDepth(), r.connections(), r.iops(), r.mibPerSecond(), r.p50us(), r.p99us(), r.p999us(),
                r.maxUs(), r.allocatedBytesPerIo(), r.targetCpuUsPerIo(), r.hostCpuUsPerIo(), r.errors());
    }

    static void printTable(PrintStream out, String label, List<Result> results) {
        out.println();
        out.println("| backend | pattern | bs | QD | conns | IOPS | MiB/s | p50 µs | p99 µs | p99.9 µs | host alloc B/IO | target CPU µs/IO | host CPU µs/IO |");
        out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (Result r : results) {
            out.printf(Locale.ROOT, "| %s | %s | %s | %d | %d | %,.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |%n",
                    label, r.job().pattern().name().toLowerCase(Locale.ROOT),
                    r.job().blockSize() >= 1024 ? (r.job().blockSize() / 1024) + "k" : String.valueOf(r.job().blockSize()),
                    r.job().queueDepth(), r.connections(), r.iops(), r.mibPerSecond(), r.p50us(), r.p99us(),
                    r.p999us(), r.allocatedBytesPerIo(), r.targetCpuUsPerIo(), r.hostCpuUsPerIo());
        }
    }

    /**
     * Drives one queue in a closed loop: QD commands at start, then one new command per completion. Owned
     * by the queue's event loop from {@link #start} until {@link #done} opens.
     */
    static final class Worker implements AsyncNvmeTcpQueue.CompletionHandler {
        final AsyncNvmeTcpQueue queue;
        final int index;
        final Job job;
        final int nsid;
        final int lbasPerIo;
        final long firstIo;
        final long ios;
        final long measureStart;
        final long measureEnd;
        final long[] submittedAt;
        final Histogram histogram = new Histogram(3_600_000_000_000L, 3);
        final CountDownLatch done = new CountDownLatch(1);
        /** Write source (random bytes) or read destination: one I/O per slot. */
        final ByteBuf buffer;
        long limit = Long.MAX_VALUE;
        long next;
        long seed;
        long issued;
        long completedTotal;
        long measured;
        long errors;
        int inFlight;

        Worker(AsyncNvmeTcpQueue queue, AsyncNvmeTcpHost.NamespaceInfo ns, long region, Job job, int index, int of,
               long measureStart, long measureEnd) {
            this.queue = queue;
            this.index = index;
            this.job = job;
            this.nsid = ns.nsid();
            this.lbasPerIo = job.blockSize() / ns.blockSize();
            long regionIos = region / job.blockSize();
            if (regionIos < 1) {
                throw new IllegalArgumentException("the region holds no " + job.blockSize() + "-byte I/O");
            }
            // Sequential jobs split the region between connections; random ones all use the whole of it.
            this.ios = job.pattern().random ? regionIos : Math.max(1, regionIos / of);
            this.firstIo = job.pattern().random ? 0 : Math.min(regionIos - 1, index * (regionIos / of));
            this.measureStart = measureStart;
            this.measureEnd = measureEnd;
            this.submittedAt = new long[job.queueDepth()];
            this.seed = 0x9E3779B97F4A7C15L * (index + 1);
            this.buffer = PooledByteBufAllocator.DEFAULT.directBuffer(job.blockSize() * job.queueDepth());
            byte[] random = new byte[job.blockSize() * job.queueDepth()];
            new java.util.Random(index).nextBytes(random);
            buffer.writeBytes(random);
        }

        void start() {
            for (int slot = 0; slot < job.queueDepth() && issued < limit; slot++) {
                submit(slot, System.nanoTime());
            }
            queue.flush();
            if (inFlight == 0) {
                done.countDown();
            }
        }

        private void submit(int slot, long now) {
            long io;
            if (job.pattern().random) {
                // xorshift64*: no allocation, no shared state
                seed ^= seed >>> 12;
                seed ^= seed << 25;
                seed ^= seed >>> 27;
                io = Long.remainderUnsigned(seed * 0x2545F4914F6CDD1DL, ios);
            } else {
                io = firstIo + next;
                next = next + 1 == ios ? 0 : next + 1;
            }
            long slba = io * lbasPerIo;
            int at = slot * job.blockSize();
            submittedAt[slot] = now;
            boolean accepted = job.pattern().read
                    ? queue.read(nsid, slba, lbasPerIo, job.blockSize(), buffer, at, this, slot)
                    : queue.write(nsid, slba, lbasPerIo, buffer, at, job.blockSize(), this, slot);
            if (!accepted) {
                throw new IllegalStateException("queue " + index + " refused a command: "
                        + (queue.isOpen() ? "no free slot" : "closed: " + queue.failure()));
            }
            issued++;
            inFlight++;
        }

        @Override
        public void onCompletion(AsyncNvmeTcpQueue q, long tag, int status, int result0) {
            long now = System.nanoTime();
            int slot = (int) tag;
            inFlight--;
            completedTotal++;
            if (status != 0) {
                errors++;
            }
            long started = submittedAt[slot];
            if (started >= measureStart && now <= measureEnd) {
                histogram.recordValue(now - started);
                measured++;
            }
            if (now < measureEnd && issued < limit && status != AsyncNvmeTcpQueue.STATUS_CONNECTION_LOST) {
                submit(slot, now);
            } else if (inFlight == 0) {
                done.countDown();
            }
        }

        void release() {
            buffer.release();
        }
    }
}
