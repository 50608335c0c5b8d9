package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a volume's metrics report and how its QoS limits pace the host's commands. */
@ExtendWith(LeakFailingExtension.class)
@Timeout(60)
class MeteredDeviceTest {
    static final int BLOCK = 4096;
    static final long MS = 1_000_000L;
    static final long US = 1_000L;

    // ---------------------------------------------------------------------------------------------------
    // Fakes

    /** Completes every command at once with the given errno, recording what reached it, in order. */
    static final class InlineDevice implements BlockDevice {
        final int errno;
        final List<String> seen = new ArrayList<>();
        boolean closed;

        InlineDevice(int errno) {
            this.errno = errno;
        }

        @Override
        public long size() {
            return 1L << 40;
        }

        @Override
        public int blockSize() {
            return 512;
        }

        @Override
        public boolean volatileWriteCache() {
            return true;
        }

        @Override
        public boolean readOnly() {
            return true;
        }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            seen.add("read@" + offset);
            completion.completed(attachment, errno);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                              IoCompletion<A> completion) {
            seen.add("write@" + offset);
            completion.completed(attachment, errno);
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A attachment,
                                    IoCompletion<A> completion) {
            seen.add("zeroes@" + offset);
            completion.completed(attachment, errno);
        }

        @Override
        public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
            seen.add("deallocate@" + offset);
            completion.completed(attachment, errno);
        }

        @Override
        public <A> void flush(A attachment, IoCompletion<A> completion) {
            seen.add("flush");
            completion.completed(attachment, errno);
        }

        @Override
        public DeviceHealth health() {
            return new DeviceHealth(300, 90, 7, 1, 2);
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** Holds every command until the test completes it, so that the test decides each latency. */
    static class PendingDevice implements BlockDevice {
        record Held(Object attachment, IoCompletion<Object> completion) {
            void complete(int errno) {
                completion.completed(attachment, errno);
            }
        }

        final List<Held> held = new ArrayList<>();

        @SuppressWarnings("unchecked")
        private <A> void hold(A attachment, IoCompletion<A> completion) {
            held.add(new Held(attachment, (IoCompletion<Object>) completion));
        }

        @Override
        public long size() {
            return 1L << 30;
        }

        @Override
        public int blockSize() {
            return BLOCK;
        }

        @Override
        public boolean volatileWriteCache() {
            return false;
        }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            hold(attachment, completion);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                              IoCompletion<A> completion) {
            hold(attachment, completion);
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A attachment,
                                    IoCompletion<A> completion) {
            hold(attachment, completion);
        }

        @Override
        public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
            hold(attachment, completion);
        }

        @Override
        public <A> void flush(A attachment, IoCompletion<A> completion) {
            hold(attachment, completion);
        }

        @Override
        public DeviceHealth health() {
            return DeviceHealth.UNKNOWN;
        }

        @Override
        public void close() {
        }
    }

    /** Records, per command index (the attachment), when it completed and with what; and completion order. */
    static final class Completions implements IoCompletion<Integer> {
        final ManualScheduler clock;
        final long[] at;
        final int[] errno;
        final List<Integer> order = new ArrayList<>();

        Completions(ManualScheduler clock, int n) {
            this.clock = clock;
            this.at = new long[n];
            this.errno = new int[n];
            Arrays.fill(at, -1);
        }

        @Override
        public void completed(Integer index, int e) {
            at[index] = clock.nanoTime();
            errno[index] = e;
            order.add(index);
        }

        int done() {
            return order.size();
        }

        long doneBy(long time) {
            return Arrays.stream(at).filter(t -> t >= 0 && t <= time).count();
        }
    }

    static ByteBuf heapBuffer(int length) {
        // Heap buffers from Unpooled are not leak-tracked: nothing to release, nothing recorded per access.
        return Unpooled.wrappedBuffer(new byte[length]).clear();
    }

    // ---------------------------------------------------------------------------------------------------
    // Metering

    @Test
    void countsCommandsBytesAndErrorsOfWhatTheHostDid() {
        ManualScheduler scheduler = new ManualScheduler();
        MemoryBlockDevice memory = new MemoryBlockDevice(8L << 20, BLOCK);
        try (MeteredDevice device = new MeteredDevice(memory, scheduler, scheduler::nanoTime,
                MeteredDevice.DEFAULT_BURST_NANOS)) {
            byte[] a = DeviceCalls.pattern(BLOCK, 1);
            byte[] b = DeviceCalls.pattern(2 * BLOCK, 2);
            assertEquals(IoCompletion.OK, DeviceCalls.write(device, 0, a, false));
            assertEquals(IoCompletion.OK, DeviceCalls.write(device, BLOCK, b, true));
            assertArrayEquals(a, DeviceCalls.read(device, 0, BLOCK), "the data goes through unchanged");
            assertArrayEquals(b, DeviceCalls.read(device, BLOCK, 2 * BLOCK));
            assertEquals(IoCompletion.OK, DeviceCalls.flush(device));
            assertEquals(IoCompletion.OK, DeviceCalls.writeZeroes(device, 0, BLOCK, false));
            assertEquals(IoCompletion.OK, DeviceCalls.deallocate(device, BLOCK, BLOCK));
            assertEquals(IoCompletion.ERANGE, DeviceCalls.readErrno(device, 8L << 20, BLOCK));
            assertTrue(DeviceCalls.allZero(DeviceCalls.read(device, 0, 2 * BLOCK)));

            MeteredDevice.Stats s = device.snapshot();
            assertEquals(4, s.reads(), "reads, the failed one included");
            assertEquals(2, s.writes());
            assertEquals(3, s.others(), "flush, write-zeroes, deallocate");
            assertEquals(BLOCK + 2 * BLOCK + 2 * BLOCK, s.bytesRead(), "the failed read moved no bytes");
            assertEquals(3 * BLOCK, s.bytesWritten(), "write-zeroes and deallocate move no data");
            assertEquals(1, s.errors());
            assertEquals(0, s.inFlight());
            assertEquals(0, s.queued());
            assertEquals(0, s.throttled());
            assertEquals(4, s.readLatency().count());
            assertEquals(2, s.writeLatency().count());
            assertEquals(3, s.otherLatency().count());
            assertEquals(0, s.iopsLimit());
            assertEquals(0, s.bytesPerSecondLimit());
        }
    }

    @Test
    void aFailingDeviceShowsAsErrorsAndNoBytes() {
        ManualScheduler scheduler = new ManualScheduler();
        InlineDevice failing = new InlineDevice(IoCompletion.EIO);
        MeteredDevice device = new MeteredDevice(failing, scheduler, scheduler::nanoTime, 0);
        assertEquals(IoCompletion.EIO, DeviceCalls.write(device, 0, new byte[BLOCK], false));
        assertEquals(IoCompletion.EIO, DeviceCalls.readErrno(device, 0, BLOCK));
        assertEquals(IoCompletion.EIO, DeviceCalls.flush(device));

        MeteredDevice.Stats s = device.snapshot();
        assertEquals(1, s.reads());
        assertEquals(1, s.writes());
        assertEquals(1, s.others());
        assertEquals(3, s.errors());
        assertEquals(0, s.bytesRead());
        assertEquals(0, s.bytesWritten());
        assertEquals(0, s.inFlight());
    }

    @Test
    void latenciesLandInTheirBucketsWithTheirSum() {
        ManualScheduler scheduler = new ManualScheduler();
        PendingDevice pending = new PendingDevice();
        MeteredDevice device = new MeteredDevice(pending, scheduler, scheduler::nanoTime, 0);
        DeviceCalls.Outcome outcome = new DeviceCalls.Outcome();
        ByteBuf buffer = heapBuffer(BLOCK);

        device.read(0, BLOCK, buffer, null, outcome);
        device.write(0, BLOCK, buffer, false, null, outcome);
        device.write(0, BLOCK, buffer, false, null, outcome);
        device.flush(null, outcome);
        assertEquals(4, device.snapshot().inFlight(), "the host has four commands outstanding");

        scheduler.advanceBy(30 * US);
        pending.held.get(0).complete(IoCompletion.OK);      // read: 30 µs  -> le 50 µs
        scheduler.advanceBy(2 * MS - 30 * US);
        pending.held.get(1).complete(IoCompletion.OK);      // write: 2 ms  -> le 2.5 ms
        assertEquals(2, device.snapshot().inFlight());
        scheduler.advanceBy(1998 * MS);
        pending.held.get(2).complete(IoCompletion.EIO);     // write: 2 s   -> +Inf
        pending.held.get(3).complete(IoCompletion.OK);      // flush: 2 s   -> +Inf
        assertEquals(4, outcome.calls.get());

        MeteredDevice.Stats s = device.snapshot();
        assertEquals(0, s.inFlight());
        assertArrayEquals(new double[]{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
                50e-3, 100e-3, 250e-3, 1.0, Double.POSITIVE_INFINITY}, s.readLatency().upperBoundsSeconds());

        LatencyHistogram.Snapshot read = s.readLatency();
        assertEquals(1, read.count());
        assertEquals(30 * US, read.sumNanos());
        assertEquals(1, read.bucketCounts()[1], "30 µs is in the le=50µs bucket");
        assertEquals(0, read.bucketCounts()[0]);

        LatencyHistogram.Snapshot write = s.writeLatency();
        assertEquals(2, write.count());
        assertEquals(2 * MS + 2000 * MS, write.sumNanos());
        assertEquals(2.002, write.sumSeconds(), 1e-9);
        assertArrayEquals(new long[]{0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, write.bucketCounts());
        assertArrayEquals(new long[]{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2}, write.cumulativeCounts(),
                "cumulative, as Prometheus exports le buckets");
        assertEquals(1, s.otherLatency().bucketCounts()[LatencyHistogram.BUCKETS - 1]);
        assertEquals(1, s.errors());
        assertEquals(BLOCK, s.bytesWritten(), "only the write that succeeded");
    }

    @Test
    void passesTheDeviceFiguresThroughAndClosesIt() {
        ManualScheduler scheduler = new ManualScheduler();
        InlineDevice inner = new InlineDevice(IoCompletion.OK);
        MeteredDevice device = new MeteredDevice(inner, scheduler);
        assertEquals(1L << 40, device.size());
        assertEquals(512, device.blockSize());
        assertTrue(device.volatileWriteCache());
        assertTrue(device.readOnly());
        assertEquals(new DeviceHealth(300, 90, 7, 1, 2), device.health());
        assertSame(inner, device.inner());
        device.close();
        assertTrue(inner.closed);
    }

    // ---------------------------------------------------------------------------------------------------
    // QoS limits, on a fake clock

    /** Submits {@code n} writes of {@code length} bytes at once, attachment = index. */
    static void submitWrites(MeteredDevice device, int n, int length, Completions completions) {
        ByteBuf source = heapBuffer(length).writerIndex(length);
        for (int i = 0; i < n; i++) {
            device.write((long) i * length, length, source, false, i, completions);
        }
    }

    /** Burst 100 ms at 1000 commands/s: 101 at once (the burst plus the one the rate allows now), then 1 per ms. */
    static void assertPacedAtOnePerMillisecond(Completions c, int n) {
        int burst = 101;
        assertEquals(IntStream.range(0, n).boxed().toList(), c.order, "completed in the order submitted");
        for (int i = 0; i < n; i++) {
            long earliest = Math.max(0, (i - burst + 1) * MS);
            assertTrue(c.at[i] >= earliest, "command " + i + " completed at " + c.at[i] + " ns, before "
                    + earliest + ": the limit let it through early");
            assertTrue(c.at[i] <= earliest + MS, "command " + i + " completed at " + c.at[i]
                    + " ns, more than a millisecond late");
        }
        long last = c.at[n - 1];
        assertTrue(last >= 850 * MS && last <= 1000 * MS, "1000 commands at 1000/s with a 100 ms burst take "
                + "about 0.9 s, took " + last / 1e9 + " s");
    }

    @Test
    void anIopsLimitPacesABurstOfCommandsInOrder() {
        ManualScheduler scheduler = new ManualScheduler();
        InlineDevice inner = new InlineDevice(IoCompletion.OK);
        MeteredDevice device = new MeteredDevice(inner, scheduler, scheduler::nanoTime,
                MeteredDevice.DEFAULT_BURST_NANOS);
        device.setLimits(1000, 0);
        Completions c = new Completions(scheduler, 1000);

        submitWrites(device, 1000, BLOCK, c);
        assertEquals(101, c.done(), "the burst allowance goes through at once");
        MeteredDevice.Stats s = device.snapshot();
        assertEquals(899, s.queued());
        assertEquals(899, s.inFlight(), "queued commands are outstanding to the host");
        assertEquals(899, s.throttled());

        scheduler.advanceTo(500 * MS);
        assertEquals(601, c.done(), "one command per millisecond after the burst");
        scheduler.advanceTo(2000 * MS);
        assertEquals(1000, c.done());
        assertPacedAtOnePerMillisecond(c, 1000);
        assertEquals(0, device.snapshot().inFlight());
        assertEquals(0, device.snapshot().queued());
        assertEquals(1000, device.snapshot().writes());
        assertEquals(0, scheduler.pending(), "no timer left armed once the queue is empty");
    }

    @Test
    void aByteLimitPacesLargeCommands() {
        ManualScheduler scheduler = new ManualScheduler();
        MeteredDevice device = new MeteredDevice(new InlineDevice(IoCompletion.OK), scheduler,
                scheduler::nanoTime, MeteredDevice.DEFAULT_BURST_NANOS);
        int length = 128 << 10;
        device.setLimits(0, 1000L * length);               // 125 MiB/s: 1000 commands of 128 KiB per second
        Completions c = new Completions(scheduler, 1000);

        submitWrites(device, 1000, length, c);
        scheduler.advanceTo(2000 * MS);
        assertPacedAtOnePerMillisecond(c, 1000);
        assertEquals(1000L * length, device.snapshot().bytesWritten());
    }

    @Test
    void aCommandOverEitherLimitWaitsForBoth() {
        ManualScheduler scheduler = new ManualScheduler();
        MeteredDevice device = new MeteredDevice(new InlineDevice(IoCompletion.OK), scheduler,
                scheduler::nanoTime, 0);
        // 100 commands/s and 1 MiB/s: a 4 KiB command costs 10 ms of the command limit and 3.9 ms of the
        // byte limit, a 64 KiB one 10 ms and 62.5 ms.
        device.setLimits(100, 1 << 20);
        Completions c = new Completions(scheduler, 4);
        ByteBuf small = heapBuffer(BLOCK).writerIndex(BLOCK);
        ByteBuf large = heapBuffer(64 << 10).writerIndex(64 << 10);
        device.write(0, BLOCK, small, false, 0, c);
        device.write(0, BLOCK, small, false, 1, c);
        device.write(0, 64 << 10, large, false, 2, c);
        device.write(0, BLOCK, small, false, 3, c);
        scheduler.advanceTo(5000 * MS);
        assertEquals(0, c.at[0]);
        assertEquals(10 * MS, c.at[1], "command limit: 10 ms after the first");
        assertEquals(20 * MS, c.at[2]);
        // The 64 KiB write, sent at 20 ms, holds the byte limit until 82.5 ms; the command limit alone would
        // have sent the next one at 30 ms.
        assertEquals(82_500 * US, c.at[3], "the byte limit holds the next command back");
    }

    @Test
    void removingTheLimitReleasesTheQueueAtOnce() {
        ManualScheduler scheduler = new ManualScheduler();
        InlineDevice inner = new InlineDevice(IoCompletion.OK);
        MeteredDevice device = new MeteredDevice(inner, scheduler, scheduler::nanoTime,
                MeteredDevice.DEFAULT_BURST_NANOS);
        device.setLimits(1000, 0);
        Completions c = new Completions(scheduler, 1000);
        submitWrites(device, 1000, BLOCK, c);
        scheduler.advanceTo(10 * MS);
        assertEquals(111, c.done());

        device.setLimits(0, 0);
        scheduler.runDue();                                 // no time passes
        assertEquals(1000, c.done(), "every queued command is released without waiting for a timer");
        assertEquals(IntStream.range(0, 1000).boxed().toList(), c.order, "still in order");
        assertEquals(10 * MS, c.at[999]);
        assertEquals(0, device.snapshot().queued());
        assertEquals(0, device.snapshot().iopsLimit());

        // And unlimited it stays: nothing more is ever queued.
        Completions more = new Completions(scheduler, 500);
        submitWrites(device, 500, BLOCK, more);
        assertEquals(500, more.done());
    }

    @Test
    void raisingTheLimitSpeedsUpCommandsAlreadyQueued() {
        ManualScheduler scheduler = new ManualScheduler();
        MeteredDevice device = new MeteredDevice(new InlineDevice(IoCompletion.OK), scheduler,
                scheduler::nanoTime, MeteredDevice.DEFAULT_BURST_NANOS);
        device.setLimits(100, 0);                           // 10 ms a command: 200 would take ~2 s
        Completions c = new Completions(scheduler, 200);
        submitWrites(device, 200, BLOCK, c);
        scheduler.runDue();
        assertEquals(11, c.done());

        device.setLimits(10_000, 0);
        // The 11 admitted already cost 110 ms, 10 ms of them beyond the burst; then 0.1 ms a command.
        scheduler.advanceTo(50 * MS);
        assertEquals(200, c.done(), "the new limit applies to the queue, not only to new commands");
        assertEquals(IntStream.range(0, 200).boxed().toList(), c.order);
        assertTrue(c.at[199] <= 10 * MS + 190 * 100 * US, "last at " + c.at[199]);

        device.setLimits(1, 0);                             // and lowering it holds new commands back
        Completions slow = new Completions(scheduler, 3);
        submitWrites(device, 3, BLOCK, slow);
        scheduler.advanceBy(500 * MS);
        assertTrue(slow.done() < 3, "at 1 command/s three commands cannot all pass in half a second");
    }

    @Test
    void aFlushDoesNotOvertakeQueuedWritesAndIsNeverChargedOnItsOwn() {
        ManualScheduler scheduler = new ManualScheduler();
        InlineDevice inner = new InlineDevice(IoCompletion.OK);
        MeteredDevice device = new MeteredDevice(inner, scheduler, scheduler::nanoTime,
                MeteredDevice.DEFAULT_BURST_NANOS);
        device.setLimits(1000, 0);
        Completions c = new Completions(scheduler, 301);
        submitWrites(device, 300, BLOCK, c);
        device.flush(300, c);
        assertEquals(101, c.done(), "the flush waits behind the queued writes");

        scheduler.advanceTo(199 * MS);
        assertEquals(301, c.done());
        assertEquals("flush", inner.seen.get(300), "the device saw the flush after all 300 writes");
        assertEquals(300, c.order.get(300).intValue());
        assertEquals(199 * MS, c.at[300], "and it cost nothing: it went out with the last write");

        // The limit is spent (the next command may go at 200 ms) but nothing is queued: a flush goes at once,
        DeviceCalls.Outcome flush = new DeviceCalls.Outcome();
        device.flush(null, flush);
        assertEquals(IoCompletion.OK, flush.once());
        // while a read, which is charged, waits for its turn.
        DeviceCalls.Outcome read = new DeviceCalls.Outcome();
        device.read(0, BLOCK, heapBuffer(BLOCK), null, read);
        assertEquals(0, read.calls.get(), "the limit is spent");
        scheduler.advanceBy(MS);
        assertEquals(IoCompletion.OK, read.once());
    }

    @Test
    void commandsThatAreNotWritesCountAgainstTheCommandLimitOnly() {
        ManualScheduler scheduler = new ManualScheduler();
        InlineDevice inner = new InlineDevice(IoCompletion.OK);
        MeteredDevice device = new MeteredDevice(inner, scheduler, scheduler::nanoTime, 0);
        device.setLimits(0, 1);                             // 1 byte/s: any data command would wait for days
        DeviceCalls.Outcome outcome = new DeviceCalls.Outcome();
        device.writeZeroes(0, 1L << 30, false, null, outcome);
        device.deallocate(0, 1L << 30, null, outcome);
        device.flush(null, outcome);
        assertEquals(3, outcome.calls.get(), "no data moves, so the byte limit does not hold them");

        device.setLimits(1, 0);
        device.deallocate(0, BLOCK, null, outcome);
        device.deallocate(0, BLOCK, null, outcome);
        assertEquals(4, outcome.calls.get(), "but each is a command");
        scheduler.advanceBy(1000 * MS);
        assertEquals(5, outcome.calls.get());
    }

    // ---------------------------------------------------------------------------------------------------
    // Real threads and a real clock

    /** A device that completes each command on one of its own threads, recording the submission order. */
    static final class ThreadedDevice extends PendingDevice {
        final ConcurrentLinkedQueue<Object> order = new ConcurrentLinkedQueue<>();
        final java.util.concurrent.ExecutorService completer = Executors.newSingleThreadExecutor();

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                              IoCompletion<A> completion) {
            order.add(offset);
            completer.execute(() -> completion.completed(attachment, IoCompletion.OK));
        }
    }

    @Test
    @Timeout(30)
    void manySubmittersOnARealClockArePacedAndEachCompletedOnce() throws Exception {
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        ThreadedDevice inner = new ThreadedDevice();
        try {
            MeteredDevice device = new MeteredDevice(inner, scheduler, System::nanoTime, 10 * MS);
            device.setLimits(20_000, 0);
            int threads = 4;
            int each = 1000;
            AtomicIntegerArray calls = new AtomicIntegerArray(threads * each);
            CountDownLatch all = new CountDownLatch(threads * each);
            IoCompletion<Integer> completion = (index, errno) -> {
                calls.incrementAndGet(index);
                all.countDown();
            };
            ByteBuf source = heapBuffer(BLOCK).writerIndex(BLOCK);
            CountDownLatch start = new CountDownLatch(1);
            List<Thread> submitters = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int base = t * each;
                submitters.add(Thread.ofPlatform().start(() -> {
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    for (int i = 0; i < each; i++) {
                        // offset encodes (thread, sequence) so the device's view of the order can be checked
                        device.write((long) (base + i) * BLOCK, BLOCK, source, false, base + i, completion);
                    }
                }));
            }
            long began = System.nanoTime();
            start.countDown();
            assertTrue(all.await(20, TimeUnit.SECONDS), "every command completes");
            long elapsed = System.nanoTime() - began;
            for (Thread t : submitters) {
                t.join();
            }

            // 4000 commands at 20000/s with 200 allowed at once: at least 190 ms, however fast the machine.
            assertTrue(elapsed >= 150 * MS, "took only " + elapsed / 1e6 + " ms: the limit was not enforced");
            assertTrue(elapsed < 10_000 * MS, "took " + elapsed / 1e6 + " ms");
            for (int i = 0; i < threads * each; i++) {
                assertEquals(1, calls.get(i), "command " + i + " completed exactly once");
            }
            int[] lastPerThread = new int[threads];
            Arrays.fill(lastPerThread, -1);
            for (Object o : inner.order) {
                int index = (int) ((Long) o / BLOCK);
                int thread = index / each;
                assertTrue(index > lastPerThread[thread], "each submitter's commands reach the device in order");
                lastPerThread[thread] = index;
            }
            MeteredDevice.Stats s = device.snapshot();
            assertEquals(threads * each, s.writes());
            assertEquals(0, s.queued());
            assertTrue(s.throttled() > 0);
            // The last completion handler may still be returning on the completer thread.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (device.snapshot().inFlight() != 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(0, device.snapshot().inFlight());
        } finally {
            scheduler.shutdownNow();
            inner.completer.shutdownNow();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // The data path allocates nothing

    /** Non-capturing, so submitting with it allocates nothing. */
    private static final IoCompletion<Object> IGNORE = (attachment, errno) -> {
    };

    @Test
    void theDataPathAllocatesNothingPerCommand() {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
        try {
            MeteredDevice device = new MeteredDevice(new NullDevice(), scheduler);
            // Limits far above what one thread submits: admission is exercised, nothing is ever queued.
            device.setLimits(1_000_000_000L, 1L << 50);
            ByteBuf buffer = heapBuffer(BLOCK).writerIndex(BLOCK);
            int n = 200_000;
            runCommands(device, buffer, n);                 // warm-up: fills the pool, compiles the path
            long tid = Thread.currentThread().threadId();
            long before = threads.getThreadAllocatedBytes(tid);
            runCommands(device, buffer, n);
            long allocated = threads.getThreadAllocatedBytes(tid) - before;
            assertTrue(allocated < 16 * 1024, allocated + " bytes allocated by " + n + " commands ("
                    + (double) allocated / n + " per command)");
            assertEquals(0, device.snapshot().throttled());
            MeteredDevice.Stats stats = device.snapshot();
            assertEquals(2L * n, stats.reads() + stats.writes() + stats.others(), "every command went through");
        } finally {
            scheduler.shutdownNow();
        }
    }

    private static void runCommands(MeteredDevice device, ByteBuf buffer, int n) {
        for (int i = 0; i < n; i++) {
            switch (i & 3) {
                case 0 -> device.write((long) i * BLOCK, BLOCK, buffer, false, null, IGNORE);
                case 1 -> device.read((long) i * BLOCK, BLOCK, buffer, null, IGNORE);
                case 2 -> device.write((long) i * BLOCK, BLOCK, buffer, true, null, IGNORE);
                default -> device.flush(null, IGNORE);
            }
        }
    }

    /** Completes everything at once and allocates nothing itself. */
    static final class NullDevice extends PendingDevice {
        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            completion.completed(attachment, IoCompletion.OK);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                              IoCompletion<A> completion) {
            completion.completed(attachment, IoCompletion.OK);
        }

        @Override
        public <A> void flush(A attachment, IoCompletion<A> completion) {
            completion.completed(attachment, IoCompletion.OK);
        }
    }

    @Test
    void statsAreImmutableCopies() {
        ManualScheduler scheduler = new ManualScheduler();
        MeteredDevice device = new MeteredDevice(new InlineDevice(IoCompletion.OK), scheduler,
                scheduler::nanoTime, 0);
        DeviceCalls.flush(device);
        MeteredDevice.Stats s = device.snapshot();
        s.otherLatency().bucketCounts()[0] = 99;
        s.otherLatency().upperBoundsSeconds()[0] = 99;
        assertEquals(1, s.otherLatency().bucketCounts()[0]);
        assertEquals(25e-6, s.otherLatency().upperBoundsSeconds()[0]);
        assertNotNull(s.toString());
        assertFalse(s.otherLatency().toString().isEmpty());
    }
}
