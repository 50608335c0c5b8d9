package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.testing.DurabilityOracle;
import io.vvolgate.gateway.testing.ForwardingDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.testing.PowerCutDevice;
import io.vvolgate.gateway.volume.Container;
import io.vvolgate.gateway.volume.VirtualVolume;
import io.vvolgate.gateway.volume.VolumeDevice;
import io.vvolgate.gateway.volume.VolumeType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Two legs, one mirror: what survives a leg's loss, a restart and a resync, as the host would see it. */
@ExtendWith(LeakFailingExtension.class)
@Timeout(60)
class MirroredDeviceTest {
    static final long LEG = 32L << 20;
    static final long DATA = LEG - MirroredDevice.DATA_OFFSET;
    static final int BLOCK = 4096;

    /** A leg that can be made to fail: after {@code n} more operations, every operation returns EIO. */
    static final class FlakyDevice implements BlockDevice {
        final BlockDevice medium;
        final AtomicLong remaining = new AtomicLong(Long.MAX_VALUE);

        FlakyDevice(BlockDevice medium) {
            this.medium = medium;
        }

        FlakyDevice(long size) {
            this(new MemoryBlockDevice(size, 512));
        }

        void failAfter(long n) {
            remaining.set(n);
        }

        void failNow() {
            remaining.set(0);
        }

        void heal() {
            remaining.set(Long.MAX_VALUE);
        }

        private boolean failing() {
            return remaining.getAndUpdate(n -> n > 0 && n != Long.MAX_VALUE ? n - 1 : n) == 0;
        }

        @Override
        public long size() {
            return medium.size();
        }

        @Override
        public int blockSize() {
            return medium.blockSize();
        }

        @Override
        public boolean volatileWriteCache() {
            return medium.volatileWriteCache();
        }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            if (failing()) {
                dst.setZero(dst.writerIndex(), Math.min(length, dst.writableBytes())); // garbage left behind
                completion.completed(attachment, IoCompletion.EIO);
            } else {
                medium.read(offset, length, dst, attachment, completion);
            }
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
            if (failing()) {
                completion.completed(attachment, IoCompletion.EIO);
            } else {
                medium.write(offset, length, src, fua, attachment, completion);
            }
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
            if (failing()) {
                completion.completed(attachment, IoCompletion.EIO);
            } else {
                medium.writeZeroes(offset, length, fua, attachment, completion);
            }
        }

        @Override
        public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
            if (failing()) {
                completion.completed(attachment, IoCompletion.EIO);
            } else {
                medium.deallocate(offset, length, attachment, completion);
            }
        }

        @Override
        public <A> void flush(A attachment, IoCompletion<A> completion) {
            if (failing()) {
                completion.completed(attachment, IoCompletion.EIO);
            } else {
                medium.flush(attachment, completion);
            }
        }

        @Override
        public DeviceHealth health() {
            return DeviceHealth.UNKNOWN;
        }

        @Override
        public void close() {
            medium.close();
        }
    }


    /**
     * A leg that logs, in one list shared with the other leg, every write and flush that reaches it, and whose
     * flushes can be held back: a held flush neither reaches the medium nor completes until released.
     */
    static final class GatedDevice implements BlockDevice {
        final MemoryBlockDevice medium = new MemoryBlockDevice(LEG, 512);
        final String name;
        final List<String> log;
        private final List<Runnable> held = new ArrayList<>();
        private boolean holding;

        GatedDevice(String name, List<String> log) {
            this.name = name;
            this.log = log;
        }

        synchronized void holdFlushes() {
            holding = true;
        }

        void releaseFlushes() {
            List<Runnable> now;
            synchronized (this) {
                holding = false;
                now = new ArrayList<>(held);
                held.clear();
            }
            now.forEach(Runnable::run);
        }

        private static String area(long offset) {
            return offset >= MirroredDevice.DATA_OFFSET ? "data" : offset >= MirroredDevice.BITMAP_OFFSET ? "bitmap" : "label";
        }

        @Override
        public long size() {
            return medium.size();
        }

        @Override
        public int blockSize() {
            return medium.blockSize();
        }

        @Override
        public boolean volatileWriteCache() {
            return true;
        }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            medium.read(offset, length, dst, attachment, completion);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
            log.add(name + " " + area(offset));
            medium.write(offset, length, src, fua, attachment, completion);
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
            log.add(name + " " + area(offset));
            medium.writeZeroes(offset, length, fua, attachment, completion);
        }

        @Override
        public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
            log.add(name + " " + area(offset));
            medium.deallocate(offset, length, attachment, completion);
        }

        @Override
        public <A> void flush(A attachment, IoCompletion<A> completion) {
            Runnable flush = () -> {
                log.add(name + " flushed");
                medium.flush(attachment, completion);
            };
            synchronized (this) {
                if (holding) {
                    held.add(flush);
                    return;
                }
            }
            flush.run();
        }

        @Override
        public DeviceHealth health() {
            return DeviceHealth.UNKNOWN;
        }

        @Override
        public void close() {
            medium.close();
        }
    }

    // --- synchronous helpers ---

    static final IoCompletion<CompletableFuture<Integer>> DONE = (f, errno) -> f.complete(errno);

    static int await(java.util.function.Consumer<CompletableFuture<Integer>> call) {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        call.accept(f);
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static int write(BlockDevice d, long offset, byte[] data, boolean fua) {
        ByteBuf src = Unpooled.wrappedBuffer(data);
        try {
            return await(f -> d.write(offset, data.length, src, fua, f, DONE));
        } finally {
            src.release();
        }
    }

    static byte[] read(BlockDevice d, long offset, int length) {
        ByteBuf dst = Unpooled.buffer(length);
        try {
            int errno = await(f -> d.read(offset, length, dst, f, DONE));
            assertEquals(IoCompletion.OK, errno, "read at " + offset);
            assertEquals(length, dst.writerIndex());
            byte[] out = new byte[length];
            dst.getBytes(0, out);
            return out;
        } finally {
            dst.release();
        }
    }

    static int flush(BlockDevice d) {
        return await(f -> d.flush(f, DONE));
    }

    static byte[] pattern(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** The mirror's data area as a leg holds it, read directly from the leg. */
    static byte[] legData(BlockDevice leg, long offset, int length) {
        return read(leg, MirroredDevice.DATA_OFFSET + offset, length);
    }

    static MirroredDevice.Label label(BlockDevice leg) {
        byte[] raw = read(leg, 0, 2 * MirroredDevice.Label.SIZE);
        ByteBuf buf = Unpooled.wrappedBuffer(raw);
        try {
            return MirroredDevice.Label.newest(MirroredDevice.Label.readFrom(buf, 0),
                    MirroredDevice.Label.readFrom(buf, MirroredDevice.Label.SIZE));
        } finally {
            buf.release();
        }
    }

    /** Writes {@code count} random 4 KiB blocks into the model and through the device; returns the blocks written. */
    static List<Integer> writeRandom(BlockDevice d, byte[] model, Random rnd, int count, long seed) {
        List<Integer> written = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int block = rnd.nextInt(model.length / BLOCK);
            byte[] data = pattern(BLOCK, seed * 1_000_003 + i);
            assertEquals(IoCompletion.OK, write(d, (long) block * BLOCK, data, false), "write " + i + " acknowledged");
            System.arraycopy(data, 0, model, block * BLOCK, BLOCK);
            written.add(block);
        }
        return written;
    }

    static void assertReadsBack(BlockDevice d, byte[] model, String what) {
        for (int at = 0; at < model.length; at += MemoryBlockDevice.CHUNK_SIZE) {
            int length = Math.min(MemoryBlockDevice.CHUNK_SIZE, model.length - at);
            byte[] expected = Arrays.copyOfRange(model, at, at + length);
            if (!Arrays.equals(expected, read(d, at, length))) {
                fail(what + ": data differs in the MiB at " + at);
            }
        }
    }

    static void assertLegHolds(BlockDevice leg, byte[] model, String what) {
        for (int at = 0; at < model.length; at += MemoryBlockDevice.CHUNK_SIZE) {
            int length = Math.min(MemoryBlockDevice.CHUNK_SIZE, model.length - at);
            if (!Arrays.equals(Arrays.copyOfRange(model, at, at + length), legData(leg, at, length))) {
                fail(what + ": leg data differs in the MiB at " + at);
            }
        }
    }

    /** A write through the device that the test does not wait for; the future completes with its errno. */
    static CompletableFuture<Integer> writeAsync(BlockDevice d, long offset, byte[] data) {
        ByteBuf src = Unpooled.wrappedBuffer(data);
        CompletableFuture<Integer> f = new CompletableFuture<>();
        d.write(offset, data.length, src, false, f, DONE);
        return f.whenComplete((errno, e) -> src.release());
    }

    static Integer get(CompletableFuture<Integer> f) {
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The first block of a leg's write-intent bitmap (the test mirrors have fewer than 32768 regions). */
    static BitSet bitmapOf(BlockDevice leg) {
        return BitSet.valueOf(read(leg, MirroredDevice.BITMAP_OFFSET, MirroredDevice.BITMAP_BLOCK));
    }

    /** Fails unless both legs hold the same bytes in the mirror's first {@code length} bytes. */
    static void assertLegsEqual(BlockDevice a, BlockDevice b, long length, String what) {
        for (long at = 0; at < length; at += MemoryBlockDevice.CHUNK_SIZE) {
            int n = (int) Math.min(MemoryBlockDevice.CHUNK_SIZE, length - at);
            if (!Arrays.equals(legData(a, at, n), legData(b, at, n))) {
                fail(what + ": the legs differ in the MiB at " + at);
            }
        }
    }

    static void verify(DurabilityOracle oracle, BlockDevice d, String what) {
        List<String> violations = oracle.check(DurabilityOracle.BlockReader.of(d));
        assertTrue(violations.isEmpty(), what + ": " + violations.subList(0, Math.min(10, violations.size())));
    }

    // --- tests ---

    @Test
    void aWriteLandsOnBothLegsAndTheMirrorIsSmallerByTheLabelArea() {
        MemoryBlockDevice a = new MemoryBlockDevice(LEG, 512);
        MemoryBlockDevice b = new MemoryBlockDevice(LEG + (4L << 20), 512);
        MirroredDevice m = MirroredDevice.open(a, b);
        assertEquals(DATA, m.size());
        assertEquals(MirroredDevice.State.IN_SYNC, m.state());
        byte[] x = pattern(64 * 1024, 1);
        assertEquals(IoCompletion.OK, write(m, 512, x, false));
        assertEquals(IoCompletion.OK, write(m, DATA - BLOCK, pattern(BLOCK, 2), true));
        assertEquals(IoCompletion.OK, flush(m));
        assertArrayEquals(x, legData(a, 512, x.length));
        assertArrayEquals(x, legData(b, 512, x.length));
        assertArrayEquals(pattern(BLOCK, 2), legData(b, DATA - BLOCK, BLOCK));
        assertArrayEquals(x, read(m, 512, x.length));
        assertEquals(IoCompletion.ERANGE, write(m, DATA, pattern(BLOCK, 3), false), "past the end of the mirror");
        assertEquals(0, label(a).legIndex());
        assertEquals(1, label(b).legIndex());
        assertEquals(label(a).mirrorId(), label(b).mirrorId());
        m.close();

        MirroredDevice again = MirroredDevice.open(b, a); // order of the arguments does not matter
        assertEquals(m.id(), again.id());
        assertEquals(MirroredDevice.State.IN_SYNC, again.state());
        assertArrayEquals(x, read(again, 512, x.length));
        again.close();
        assertThrows(IllegalStateException.class, () -> MirroredDevice.open(a, new FlakyDevice(a)),
                "the same leg twice is refused");
        MirroredDevice other = MirroredDevice.open(new MemoryBlockDevice(LEG, 512), null);
        other.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void aLegFailingInAStreamOfWritesLosesNothingAndIsNeverReadAgain(int failing) {
        FlakyDevice[] legs = {new FlakyDevice(LEG), new FlakyDevice(LEG)};
        MirroredDevice m = MirroredDevice.open(legs[0], legs[1]);
        byte[] model = new byte[(int) DATA];
        Random rnd = new Random(7 + failing);
        writeRandom(m, model, rnd, 100, 1);
        legs[failing].failAfter(37);
        writeRandom(m, model, rnd, 300, 2); // every one of them acknowledged
        assertEquals(IoCompletion.OK, flush(m));
        assertEquals(MirroredDevice.State.DEGRADED, m.state());
        assertEquals(failing, m.failedLeg());
        assertEquals(MirroredDevice.LegState.STALE, m.legState(failing));
        assertEquals(1, m.counters().legFailures());
        assertReadsBack(m, model, "through the degraded mirror");
        MirroredDevice.Label survivor = label(legs[1 - failing]);
        assertEquals(MirroredDevice.LegState.STALE, survivor.state(failing), "the survivor's label says the other leg is stale");
        assertEquals(MirroredDevice.LegState.IN_SYNC, survivor.state(1 - failing));
        m.close();

        // The failed leg comes back (a transient fault) with its old label and old data: it must not be read.
        legs[failing].heal();
        MirroredDevice.Label stale = label(legs[failing]);
        assertTrue(stale.generation() < survivor.generation());
        MirroredDevice again = MirroredDevice.open(legs[failing], legs[1 - failing]);
        assertEquals(MirroredDevice.State.DEGRADED, again.state());
        assertEquals(MirroredDevice.LegState.STALE, again.legState(failing));
        assertReadsBack(again, model, "after reopening with the stale leg present");
        legs[1 - failing].failNow(); // the only good leg: the stale one must still not serve reads
        ByteBuf dst = Unpooled.buffer(BLOCK);
        try {
            assertEquals(IoCompletion.EIO, await(f -> again.read(0, BLOCK, dst, f, DONE)));
        } finally {
            dst.release();
        }
        legs[1 - failing].heal();
        again.close();
    }

    @Test
    void aFailedReadIsServedByTheOtherLegAndFailsTheFirst() {
        FlakyDevice a = new FlakyDevice(LEG);
        MemoryBlockDevice b = new MemoryBlockDevice(LEG, 512);
        MirroredDevice m = MirroredDevice.open(a, b);
        byte[] x = pattern(8192, 5);
        assertEquals(IoCompletion.OK, write(m, 8192, x, false));
        a.failNow();
        assertArrayEquals(x, read(m, 8192, 8192));
        assertEquals(1, m.counters().readRetries());
        assertEquals(MirroredDevice.State.DEGRADED, m.state());
        assertEquals(0, m.failedLeg());
        m.close();
    }

    @Test
    void aReplacementIsResyncedOnlineWhileWritesContinue() throws Exception {
        FlakyDevice a = new FlakyDevice(LEG);
        FlakyDevice b = new FlakyDevice(LEG);
        MirroredDevice m = MirroredDevice.open(a, b);
        byte[] model = new byte[(int) DATA];
        writeRandom(m, model, new Random(11), 200, 3);
        b.failNow();
        writeRandom(m, model, new Random(12), 50, 4);
        assertEquals(MirroredDevice.State.DEGRADED, m.state());

        MemoryBlockDevice fresh = new MemoryBlockDevice(LEG, 512);
        // Two writers on disjoint blocks (even / odd), so the model stays exact whatever the interleaving.
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> writers = new ArrayList<>();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> done;
        synchronized (model) {
            done = m.replace(fresh);
        }
        for (int w = 0; w < 2; w++) {
            int parity = w;
            Thread t = Thread.ofPlatform().start(() -> {
                Random rnd = new Random(100 + parity);
                int i = 0;
                while (!stop.get() || i < 200) {
                    int block = rnd.nextInt(model.length / BLOCK / 2) * 2 + parity;
                    byte[] data = pattern(BLOCK, 1_000_000L * parity + i++);
                    int errno = write(m, (long) block * BLOCK, data, false);
                    if (errno != IoCompletion.OK) {
                        errors.add(new AssertionError("write failed during resync: " + errno));
                        return;
                    }
                    synchronized (model) {
                        System.arraycopy(data, 0, model, block * BLOCK, BLOCK);
                    }
                }
            });
            writers.add(t);
        }
        MirroredDevice.ResyncProgress during = m.resyncProgress();
        assertEquals(DATA, during.total());
        done.get(30, TimeUnit.SECONDS);
        stop.set(true);
        for (Thread t : writers) {
            t.join();
        }
        assertTrue(errors.isEmpty(), errors.toString());
        assertEquals(MirroredDevice.State.IN_SYNC, m.state());
        assertEquals(new MirroredDevice.ResyncProgress(DATA, DATA), m.resyncProgress());
        assertTrue(m.counters().resyncBytes() >= DATA);
        assertEquals(IoCompletion.OK, flush(m));
        assertLegHolds(a, model, "the survivor");
        assertLegHolds(fresh, model, "the resynced leg");
        assertEquals(MirroredDevice.LegState.IN_SYNC, label(fresh).state(1));
        assertEquals(MirroredDevice.LegState.IN_SYNC, label(a).state(1));
        m.close();

        // The resynced leg alone carries the mirror.
        MirroredDevice alone = MirroredDevice.open(null, fresh);
        assertReadsBack(alone, model, "the resynced leg alone");
        alone.close();
    }

    @Test
    void theStaleLegThatCameBackIsResyncedInPlace() throws Exception {
        FlakyDevice a = new FlakyDevice(LEG);
        FlakyDevice b = new FlakyDevice(LEG);
        MirroredDevice m = MirroredDevice.open(a, b);
        byte[] model = new byte[(int) DATA];
        writeRandom(m, model, new Random(21), 50, 5);
        a.failNow();
        writeRandom(m, model, new Random(22), 50, 6);
        m.close();
        a.heal();
        MirroredDevice again = MirroredDevice.open(a, b);
        assertEquals(MirroredDevice.LegState.STALE, again.legState(0));
        assertThrows(IllegalStateException.class, () -> again.replace(new MemoryBlockDevice(LEG / 2, 512)),
                "a replacement too small is refused");
        again.resync().get(30, TimeUnit.SECONDS);
        assertEquals(MirroredDevice.State.IN_SYNC, again.state());
        assertLegHolds(a, model, "leg 0 after resync");
        again.close();
        // Now leg 1 may go: leg 0 has everything.
        MirroredDevice onlyA = MirroredDevice.open(a, null);
        assertReadsBack(onlyA, model, "leg 0 alone");
        onlyA.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void aContainerOnAMirrorSurvivesTheLossOfEitherLeg(int lost) {
        FlakyDevice[] legs = {new FlakyDevice(64L << 20), new FlakyDevice(64L << 20)};
        MirroredDevice m = MirroredDevice.open(legs[0], legs[1]);
        Container c = Container.format(m, UUID.randomUUID(), 64 * 1024);
        VirtualVolume v = c.createVolume("vm", VolumeType.DATA, 16L << 20, 512, new byte[16], UUID.randomUUID());
        VolumeDevice d = c.device(v.id());
        byte[] before = pattern(256 * 1024, 31);
        assertEquals(IoCompletion.OK, write(d, 0, before, false));
        assertEquals(IoCompletion.OK, flush(d));
        legs[lost].failNow();
        byte[] after = pattern(128 * 1024, 32);
        assertEquals(IoCompletion.OK, write(d, 1L << 20, after, false), "I/O continues on the survivor");
        assertEquals(IoCompletion.OK, flush(d));
        VirtualVolume snap = c.snapshot(v.id(), "snap", new byte[16], UUID.randomUUID());
        assertEquals(MirroredDevice.State.DEGRADED, m.state());
        c.close();
        m.close();

        MirroredDevice survivor = lost == 0 ? MirroredDevice.open(null, legs[1]) : MirroredDevice.open(legs[0], null);
        Container reopened = Container.open(survivor);
        VolumeDevice d2 = reopened.device(v.id());
        assertArrayEquals(before, read(d2, 0, before.length));
        assertArrayEquals(after, read(d2, 1L << 20, after.length));
        assertNotNull(reopened.volume(snap.id()));
        reopened.close();
        survivor.close();
    }

    /**
     * The whole story on a container: a leg dies in the middle of a stream of writes (the writes go on and
     * every one is acknowledged), a blank replacement is resynced online while two writers keep writing and
     * flushing, and then the container, reopened on the replacement alone, holds every acknowledged write.
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void aContainerOnAMirrorLosesALegMidWritesIsResyncedOnlineAndTheReplacementAloneHoldsEverything(int lost) throws Exception {
        long legSize = 64L << 20;
        int volume = 16 << 20;
        FlakyDevice[] legs = {new FlakyDevice(legSize), new FlakyDevice(legSize)};
        MirroredDevice m = MirroredDevice.open(legs[0], legs[1]);
        Container c = Container.format(m, UUID.randomUUID(), 64 * 1024);
        VirtualVolume v = c.createVolume("vm", VolumeType.DATA, volume, 512, new byte[16], UUID.randomUUID());
        VolumeDevice d = c.device(v.id());
        byte[] model = new byte[volume];
        Random rnd = new Random(40 + lost);
        writeRandom(d, model, rnd, 100, 41);
        assertEquals(IoCompletion.OK, flush(d));
        legs[lost].failAfter(25); // data, bitmap, log and flush requests alike: it dies mid-stream
        for (int i = 0; i < 6; i++) {
            writeRandom(d, model, rnd, 50, 42 + i); // asserts each write is acknowledged
            assertEquals(IoCompletion.OK, flush(d));
        }
        assertEquals(MirroredDevice.State.DEGRADED, m.state());
        assertEquals(lost, m.failedLeg());

        MemoryBlockDevice replacement = new MemoryBlockDevice(legSize, 512);
        AtomicBoolean stop = new AtomicBoolean();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        List<Thread> writers = new ArrayList<>();
        AtomicInteger written = new AtomicInteger();
        AtomicInteger whileResyncing = new AtomicInteger();
        for (int w = 0; w < 2; w++) {
            int parity = w; // disjoint blocks (even / odd), so the model is exact whatever the interleaving
            writers.add(Thread.ofPlatform().start(() -> {
                Random r = new Random(200 + parity);
                for (int i = 0; !stop.get() || i < 150; i++) {
                    int block = r.nextInt(model.length / BLOCK / 2) * 2 + parity;
                    byte[] data = pattern(BLOCK, 3_000_000L * (parity + 1) + i);
                    int errno = write(d, (long) block * BLOCK, data, false);
                    if (errno == IoCompletion.OK && i % 16 == 15) {
                        errno = flush(d);
                    }
                    if (errno != IoCompletion.OK) {
                        errors.add(new AssertionError("I/O failed during the resync: errno " + errno));
                        return;
                    }
                    synchronized (model) {
                        System.arraycopy(data, 0, model, block * BLOCK, BLOCK);
                    }
                    written.incrementAndGet();
                    if (m.state() == MirroredDevice.State.RESYNCING) {
                        whileResyncing.incrementAndGet();
                    }
                }
            }));
        }
        while (written.get() < 40 && errors.isEmpty()) {
            Thread.onSpinWait(); // the writers are under way before the replacement arrives
        }
        CompletableFuture<Void> resynced = m.replace(replacement);
        MirroredDevice.ResyncProgress during = m.resyncProgress();
        assertEquals(m.size(), during.total());
        resynced.get(60, TimeUnit.SECONDS);
        stop.set(true);
        for (Thread t : writers) {
            t.join(60_000);
        }
        assertTrue(errors.isEmpty(), errors.toString());
        assertTrue(whileResyncing.get() > 0, "writes went on during the resync");
        assertEquals(MirroredDevice.State.IN_SYNC, m.state());
        assertEquals(IoCompletion.OK, flush(d));
        c.close();
        m.close();

        MirroredDevice alone = lost == 0 ? MirroredDevice.open(replacement, null) : MirroredDevice.open(null, replacement);
        Container reopened = Container.open(alone);
        byte[] got = read(reopened.device(v.id()), 0, volume);
        for (int at = 0; at < volume; at += BLOCK) {
            if (!Arrays.equals(model, at, at + BLOCK, got, at, at + BLOCK)) {
                fail("the replacement alone lost the acknowledged write to block " + at / BLOCK);
            }
        }
        reopened.close();
        alone.close();
    }

    /** Cut instants (operations after the resync starts) times seeds: each seed shuffles blocks and images differently. */
    static Stream<Arguments> resyncCuts() {
        List<Arguments> cases = new ArrayList<>();
        for (int cutAt : new int[] {1, 2, 3, 5, 8, 12, 17, 25, 33, 40, 55, 70, 90, 110, 150, 200}) {
            for (long seed = 1; seed <= 3; seed++) {
                cases.add(Arguments.of(cutAt, seed, seed == 2));
            }
        }
        return cases.stream();
    }

    /**
     * Power cuts at many instants of a resync with FUA writes going on: after the cut the mirror opens from
     * the two images, finishes (or restarts) the copy, and every acknowledged write reads back from both legs.
     * With {@code inFlight} the operation at the cut reaches a leg's cache without being acknowledged.
     */
    @ParameterizedTest(name = "cut at {0}, seed {1}, in flight {2}")
    @MethodSource("resyncCuts")
    void aPowerCutDuringResyncLosesNoAcknowledgedWrite(int cutAt, long seed, boolean inFlight) throws Exception {
        int blocks = (int) (DATA / BLOCK);
        String what = "cut at " + cutAt + ", seed " + seed;
        PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
        PowerCutDevice a = new PowerCutDevice(LEG, 512, power);
        MirroredDevice m = MirroredDevice.open(a, null, 4);
        byte[] acked = new byte[(int) DATA];
        Random rnd = new Random(cutAt * 1_000L + seed);
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < blocks; i++) {
            order.add(i);
        }
        Collections.shuffle(order, rnd);
        int next = 0;
        for (; next < 200; next++) {
            byte[] data = pattern(BLOCK, order.get(next));
            assertEquals(IoCompletion.OK, write(m, (long) order.get(next) * BLOCK, data, true));
            System.arraycopy(data, 0, acked, order.get(next) * BLOCK, BLOCK);
        }
        PowerCutDevice b = new PowerCutDevice(LEG, 512, power);
        CompletableFuture<Void> done = m.replace(b);
        if (inFlight) {
            power.cutDuringOperation(cutAt);
        } else {
            power.cutAfterOperations(cutAt);
        }
        // Each block written once, FUA: an acknowledged block must read back, another may be old or new.
        List<Integer> unacked = new ArrayList<>();
        while (power.isOn() && next < blocks) {
            int block = order.get(next++);
            byte[] data = pattern(BLOCK, block);
            if (write(m, (long) block * BLOCK, data, true) == IoCompletion.OK) {
                System.arraycopy(data, 0, acked, block * BLOCK, BLOCK);
            } else {
                unacked.add(block);
            }
            if (done.isDone()) {
                break;
            }
        }
        power.cutNow();
        try {
            done.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException expected) {
            // the copy was cut short
        }
        m.close();
        PowerCutDevice.PowerDomain imagePower = new PowerCutDevice.PowerDomain();
        PowerCutDevice a2 = a.cut(rnd, imagePower);
        PowerCutDevice b2 = b.cut(rnd, imagePower);
        MirroredDevice reopened = MirroredDevice.open(b2, a2, 4);
        reopened.resyncDone().get(30, TimeUnit.SECONDS); // a recorded resync (or a repair) resumes by itself
        if (reopened.state() == MirroredDevice.State.DEGRADED) {
            reopened.resync().get(30, TimeUnit.SECONDS);
        }
        assertEquals(MirroredDevice.State.IN_SYNC, reopened.state(), what);
        for (int block : unacked) {
            // Whatever the cut left there is allowed; make the model agree with the mirror.
            byte[] now = read(reopened, (long) block * BLOCK, BLOCK);
            assertTrue(Arrays.equals(now, new byte[BLOCK]) || Arrays.equals(now, pattern(BLOCK, block)),
                    what + ": block " + block + " holds data nobody wrote");
            System.arraycopy(now, 0, acked, block * BLOCK, BLOCK);
        }
        assertReadsBack(reopened, acked, what);
        assertLegHolds(a2, acked, what + ", leg 0");
        assertLegHolds(b2, acked, what + ", leg 1");
        reopened.close();
    }

    // --- write-intent bitmap ---

    /** Cut instants (operations counted on both legs, bitmap writes included) times seeds. */
    static Stream<Arguments> inSyncCuts() {
        List<Arguments> cases = new ArrayList<>();
        for (int cutAt : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 17, 22, 30, 40, 55, 75, 100, 140, 200, 300}) {
            for (long seed = 1; seed <= 2; seed++) {
                cases.add(Arguments.of(cutAt, seed, (cutAt + seed) % 2 == 0));
            }
        }
        return cases.stream();
    }

    /**
     * An in-sync mirror under FUA and plain writes, write-zeroes, flushes and clearing passes loses the power
     * at one instant: after reopening the two images and the repair, every write that was durable reads back,
     * nothing else reads back but a version somebody wrote, and the two legs hold the same bytes.
     */
    @ParameterizedTest(name = "cut at {0}, seed {1}, in flight {2}")
    @MethodSource("inSyncCuts")
    void aPowerCutInSyncLosesNoDurableWriteAndLeavesTheLegsEqual(int cutAt, long seed, boolean inFlight) throws Exception {
        String what = "cut at " + cutAt + ", seed " + seed;
        Random rnd = new Random(seed * 7919 + cutAt);
        PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
        PowerCutDevice a = new PowerCutDevice(LEG, 512, power);
        PowerCutDevice b = new PowerCutDevice(LEG, 512, power);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        long region = m.regionSize();
        DurabilityOracle oracle = new DurabilityOracle(BLOCK);
        // A history before the cut: some regions marked and then cleared, some still marked.
        for (int i = 0; i < 40; i++) {
            oracleWrite(m, oracle, (long) rnd.nextInt((int) (DATA / BLOCK)) * BLOCK, pattern(BLOCK, rnd.nextLong()), rnd.nextBoolean());
        }
        oracleFlush(m, oracle);
        m.clearIdleRegions();
        m.clearIdleRegions();
        for (int i = 0; i < 10; i++) {
            oracleWrite(m, oracle, (long) rnd.nextInt((int) (DATA / BLOCK)) * BLOCK, pattern(BLOCK, rnd.nextLong()), false);
        }
        if (inFlight) {
            power.cutDuringOperation(cutAt);
        } else {
            power.cutAfterOperations(cutAt);
        }
        for (int i = 0; power.isOn(); i++) {
            assertTrue(i < 10_000, what + ": the power never went off");
            int dice = rnd.nextInt(20);
            long offset = (long) rnd.nextInt((int) (DATA / BLOCK)) * BLOCK;
            if (dice < 12) {
                oracleWrite(m, oracle, offset, pattern(BLOCK, rnd.nextLong()), dice < 4);
            } else if (dice < 14) {
                // Across a region boundary: two regions, maybe one marked and one not.
                long boundary = (1 + rnd.nextInt((int) (DATA / region) - 1)) * region;
                oracleWrite(m, oracle, boundary - BLOCK, pattern(2 * BLOCK, rnd.nextLong()), dice == 12);
            } else if (dice < 15) {
                DurabilityOracle.Write w = oracle.submittedZeroes(offset, 2 * BLOCK);
                boolean fua = rnd.nextBoolean();
                int errno = await(f -> m.writeZeroes(offset, 2 * BLOCK, fua, f, DONE));
                if (errno == IoCompletion.OK) {
                    w.completed(fua);
                } else {
                    w.failed();
                }
            } else if (dice < 18) {
                oracleFlush(m, oracle);
            } else {
                m.clearIdleRegions();
            }
        }
        m.close();
        PowerCutDevice.PowerDomain imagePower = new PowerCutDevice.PowerDomain();
        PowerCutDevice a2 = a.cut(rnd, imagePower);
        PowerCutDevice b2 = b.cut(rnd, imagePower);
        MirroredDevice reopened = rnd.nextBoolean() ? MirroredDevice.open(a2, b2, 4, 0) : MirroredDevice.open(b2, a2, 4, 0);
        reopened.resyncDone().get(30, TimeUnit.SECONDS);
        assertEquals(MirroredDevice.State.IN_SYNC, reopened.state(), what);
        verify(oracle, reopened, what);
        assertLegsEqual(a2, b2, DATA, what);
        reopened.close();
    }

    private static void oracleWrite(MirroredDevice m, DurabilityOracle oracle, long offset, byte[] data, boolean fua) {
        DurabilityOracle.Write w = oracle.submitted(offset, data);
        if (write(m, offset, data, fua) == IoCompletion.OK) {
            w.completed(fua);
        } else {
            w.failed();
        }
    }

    private static void oracleFlush(MirroredDevice m, DurabilityOracle oracle) {
        DurabilityOracle.Flush f = oracle.flushSubmitted();
        if (flush(m) == IoCompletion.OK) {
            f.completed();
        } else {
            f.failed();
        }
    }

    /**
     * As the single-threaded cuts, with two writers and a thread that flushes and runs clearing passes, all at
     * once: the bitmap's lock-free fast path, its queue and the clearing race each other when the power goes.
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void aPowerCutUnderConcurrentWritesFlushesAndClearingLeavesTheLegsEqual(long seed) throws Exception {
        Random rnd = new Random(seed);
        PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
        PowerCutDevice a = new PowerCutDevice(LEG, 512, power);
        PowerCutDevice b = new PowerCutDevice(LEG, 512, power);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        DurabilityOracle oracle = new DurabilityOracle(BLOCK);
        power.cutAfterOperations(200 + rnd.nextInt(3000));
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            int parity = w;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    Random mine = new Random(seed * 31 + parity);
                    while (power.isOn()) {
                        // Blocks of one parity per writer: a unit is never written by two at once.
                        long offset = (long) (mine.nextInt((int) (DATA / BLOCK / 2)) * 2 + parity) * BLOCK;
                        oracleWrite(m, oracle, offset, pattern(BLOCK, mine.nextLong()), mine.nextInt(4) == 0);
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        threads.add(Thread.ofPlatform().start(() -> {
            try {
                while (power.isOn()) {
                    oracleFlush(m, oracle);
                    m.clearIdleRegions();
                }
            } catch (Throwable e) {
                errors.add(e);
            }
        }));
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(t.isAlive(), "seed " + seed + ": a thread is stuck");
        }
        assertTrue(errors.isEmpty(), errors.toString());
        m.close();
        PowerCutDevice.PowerDomain imagePower = new PowerCutDevice.PowerDomain();
        PowerCutDevice a2 = a.cut(rnd, imagePower);
        PowerCutDevice b2 = b.cut(rnd, imagePower);
        MirroredDevice reopened = MirroredDevice.open(a2, b2, 4, 0);
        reopened.resyncDone().get(30, TimeUnit.SECONDS);
        assertEquals(MirroredDevice.State.IN_SYNC, reopened.state());
        verify(oracle, reopened, "seed " + seed);
        assertLegsEqual(a2, b2, DATA, "seed " + seed);
        reopened.close();
    }

    @Test
    void aCleanCloseLeavesNoDirtyRegionAndTheNextOpenCopiesNothing() throws Exception {
        PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
        PowerCutDevice a = new PowerCutDevice(LEG, 512, power);
        PowerCutDevice b = new PowerCutDevice(LEG, 512, power);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        assertEquals(0, m.dirtyRegions(), "a new mirror starts clean");
        assertTrue(bitmapOf(a).isEmpty() && bitmapOf(b).isEmpty());
        byte[] model = new byte[(int) DATA];
        writeRandom(m, model, new Random(41), 60, 41);
        assertTrue(m.dirtyRegions() > 0);
        assertFalse(bitmapOf(a).isEmpty(), "the written regions are marked on the legs");
        m.close();
        assertTrue(bitmapOf(a).isEmpty() && bitmapOf(b).isEmpty(), "a clean close clears the bitmap on both legs");

        // Only what was made durable survives a cut now: the close left it all durable, cleared bits included.
        MirroredDevice again = MirroredDevice.open(a.cutLosingAll(), b.cutLosingAll(), 4, 0);
        assertTrue(again.resyncDone().isDone(), "no repair runs");
        assertEquals(0, again.dirtyRegions());
        assertEquals(new MirroredDevice.ResyncProgress(DATA, DATA), again.resyncProgress(), "nothing to copy");
        assertEquals(0, again.counters().resyncBytes());
        assertReadsBack(again, model, "after a clean close");
        again.close();
    }

    /**
     * The defect the bitmap fixes, made on purpose: a write in flight at the cut lands on leg 0 and not on
     * leg 1. The reopened mirror copies the dirty regions, and only those, from leg 0 to leg 1.
     */
    @Test
    void afterAnUncleanStopOnlyTheDirtyRegionsAreCopiedAndTheLegsAgreeAgain() throws Exception {
        long legSize = (256L << 20) + MirroredDevice.DATA_OFFSET;
        PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
        PowerCutDevice a = new PowerCutDevice(legSize, 512, power);
        PowerCutDevice b = new PowerCutDevice(legSize, 512, power);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        long region = m.regionSize();
        long size = m.size();
        assertEquals(IoCompletion.OK, write(m, 3 * region, pattern(BLOCK, 1), true));
        assertEquals(IoCompletion.OK, write(m, 70 * region + 8 * BLOCK, pattern(BLOCK, 2), false));
        assertEquals(IoCompletion.OK, flush(m));
        // Region 200 is clean: its bit goes to both legs (write + flush each), then the data to leg 0, then
        // to leg 1, where the power fails with the write in flight.
        long divergent = 200 * region + 5 * BLOCK;
        power.cutDuringOperation(6);
        assertEquals(IoCompletion.EIO, write(m, divergent, pattern(BLOCK, 3), true));
        assertFalse(power.isOn());
        m.close();
        PowerCutDevice a2 = a.cutKeepingAll();
        PowerCutDevice b2 = b.cutLosingAll();
        assertArrayEquals(pattern(BLOCK, 3), legData(a2, divergent, BLOCK), "the write landed on leg 0");
        assertArrayEquals(new byte[BLOCK], legData(b2, divergent, BLOCK), "and not on leg 1");

        MirroredDevice reopened = MirroredDevice.open(b2, a2, 4, 0);
        assertEquals(MirroredDevice.State.IN_SYNC, reopened.state(), "a repair keeps the mirror in sync");
        reopened.resyncDone().get(30, TimeUnit.SECONDS);
        assertEquals(3 * region, reopened.counters().resyncBytes(), "the three dirty regions and nothing else");
        assertTrue(3 * region * 50 < size);
        assertEquals(new MirroredDevice.ResyncProgress(size, size), reopened.resyncProgress());
        assertArrayEquals(pattern(BLOCK, 3), read(reopened, divergent, BLOCK), "the host sees leg 0's version");
        assertArrayEquals(pattern(BLOCK, 3), legData(b2, divergent, BLOCK), "and leg 1 now holds it too");
        assertLegsEqual(a2, b2, size, "after the repair");

        // Repaired and idle, the regions are cleared like any other; a clean close then leaves nothing to do.
        assertEquals(3, reopened.dirtyRegions());
        assertEquals(3, reopened.clearIdleRegions());
        assertEquals(0, reopened.dirtyRegions());
        reopened.close();
        MirroredDevice third = MirroredDevice.open(a2, b2, 4, 0);
        third.resyncDone().get(30, TimeUnit.SECONDS);
        assertEquals(0, third.counters().resyncBytes());
        third.close();
    }

    @Test
    void aWriteToACleanRegionIsSentOnlyOnceItsBitIsDurableOnBothLegs() {
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        GatedDevice a = new GatedDevice("leg0", log);
        GatedDevice b = new GatedDevice("leg1", log);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        long at = 3 * m.regionSize();
        log.clear();
        b.holdFlushes();
        CompletableFuture<Integer> first = writeAsync(m, at, pattern(BLOCK, 5));
        assertFalse(first.isDone(), "not acknowledged while leg 1 has not made the bit durable");
        assertFalse(log.contains("leg0 data") || log.contains("leg1 data"), "no data sent yet: " + log);
        assertTrue(bitmapOf(a).get(3) && log.contains("leg0 flushed"), "leg 0 holds the bit durably: " + log);
        assertEquals(1, m.counters().bitmapWaits());

        b.releaseFlushes();
        assertEquals(IoCompletion.OK, get(first));
        int lastBitmapFlush = Math.max(log.indexOf("leg0 flushed"), log.indexOf("leg1 flushed"));
        assertTrue(lastBitmapFlush >= 0 && log.indexOf("leg0 data") > lastBitmapFlush
                && log.indexOf("leg1 data") > lastBitmapFlush, "data only after both flushes: " + log);
        assertTrue(bitmapOf(a).get(3) && bitmapOf(b).get(3));

        // The region is marked now: the next write goes straight through, whatever the legs' flushes do.
        long bitmapWrites = m.counters().bitmapWrites();
        b.holdFlushes();
        assertEquals(IoCompletion.OK, write(m, at + BLOCK, pattern(BLOCK, 6), false));
        assertEquals(bitmapWrites, m.counters().bitmapWrites());
        b.releaseFlushes();
        m.close();
    }

    /**
     * The same promise with power cuts instead of held flushes: at each instant of a write to a clean region,
     * if its data reached a leg at all (even just its cache), the region's bit is durable on both legs.
     */
    @Test
    void noDataReachesALegBeforeItsBitIsDurableOnBoth() {
        int landed = 0;
        for (int n = 1; n <= 8; n++) {
            for (boolean inFlight : new boolean[] {false, true}) {
                PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
                PowerCutDevice a = new PowerCutDevice(LEG, 512, power);
                PowerCutDevice b = new PowerCutDevice(LEG, 512, power);
                MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
                int region = 5;
                long at = region * m.regionSize();
                if (inFlight) {
                    power.cutDuringOperation(n);
                } else {
                    power.cutAfterOperations(n);
                }
                write(m, at, pattern(BLOCK, n), false);
                power.cutNow();
                m.close();
                boolean reached = Arrays.equals(pattern(BLOCK, n), legData(a.cutKeepingAll(), at, BLOCK))
                        || Arrays.equals(pattern(BLOCK, n), legData(b.cutKeepingAll(), at, BLOCK));
                if (reached) {
                    landed++;
                    assertTrue(bitmapOf(a.cutLosingAll()).get(region) && bitmapOf(b.cutLosingAll()).get(region),
                            "cut at " + n + (inFlight ? " (in flight)" : "") + ": data on a leg without a durable bit");
                }
            }
        }
        assertTrue(landed >= 4, "the cuts reached the data writes " + landed + " times");
    }

    @Test
    void idleRegionsAreClearedLazilyAndAWriteMarksItsRegionAgain() {
        MemoryBlockDevice a = new MemoryBlockDevice(LEG, 512);
        MemoryBlockDevice b = new MemoryBlockDevice(LEG, 512);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        long region = m.regionSize();
        assertEquals(IoCompletion.OK, write(m, 0, pattern(BLOCK, 1), false));
        assertEquals(IoCompletion.OK, write(m, region, pattern(BLOCK, 2), false));
        long bitmapWrites = m.counters().bitmapWrites();
        for (int i = 0; i < 50; i++) {
            assertEquals(IoCompletion.OK, write(m, (long) (i % 8) * BLOCK, pattern(BLOCK, 10 + i), i % 2 == 0));
        }
        assertEquals(bitmapWrites, m.counters().bitmapWrites(), "writes to marked regions write no bitmap");
        assertEquals(2, m.dirtyRegions());

        assertEquals(0, m.clearIdleRegions(), "both were written since the last look");
        assertEquals(IoCompletion.OK, write(m, BLOCK, pattern(BLOCK, 3), false)); // region 0 stays busy
        assertEquals(1, m.clearIdleRegions(), "region 1 was idle for a whole pass");
        assertEquals(1, m.dirtyRegions());
        BitSet expected = new BitSet();
        expected.set(0);
        assertEquals(expected, bitmapOf(a));
        assertEquals(expected, bitmapOf(b));
        assertEquals(1, m.clearIdleRegions());
        assertTrue(bitmapOf(a).isEmpty() && bitmapOf(b).isEmpty());

        long waits = m.counters().bitmapWaits();
        assertEquals(IoCompletion.OK, write(m, region + BLOCK, pattern(BLOCK, 4), false));
        assertEquals(waits + 1, m.counters().bitmapWaits(), "a cleared region is marked again before a write");
        assertTrue(bitmapOf(a).get(1) && bitmapOf(b).get(1));
        assertArrayEquals(pattern(BLOCK, 4), read(m, region + BLOCK, BLOCK));
        m.close();
    }

    /** A bit is cleared on disk only after both legs are flushed, and a write arriving meanwhile waits for it again. */
    @Test
    void aClearedBitReachesTheLegsOnlyAfterBothAreFlushedAndANewWriteWaitsForItsBit() {
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        GatedDevice a = new GatedDevice("leg0", log);
        GatedDevice b = new GatedDevice("leg1", log);
        MirroredDevice m = MirroredDevice.open(a, b, 4, 0);
        long at = 2 * m.regionSize();
        assertEquals(IoCompletion.OK, write(m, at, pattern(BLOCK, 1), false));
        assertEquals(0, m.clearIdleRegions());
        log.clear();
        b.holdFlushes();
        assertEquals(1, m.clearIdleRegions());
        assertFalse(log.contains("leg0 bitmap") || log.contains("leg1 bitmap"), "no bit cleared before both flushes: " + log);
        assertTrue(bitmapOf(a).get(2) && bitmapOf(b).get(2));

        CompletableFuture<Integer> next = writeAsync(m, at + BLOCK, pattern(BLOCK, 2));
        assertFalse(next.isDone(), "a write to the region being cleared waits for its bit");
        assertFalse(log.contains("leg0 data") || log.contains("leg1 data"));
        b.releaseFlushes();
        assertEquals(IoCompletion.OK, get(next));
        assertTrue(bitmapOf(a).get(2) && bitmapOf(b).get(2), "set again for the new write");
        assertTrue(log.lastIndexOf("leg0 bitmap") < log.indexOf("leg0 data")
                && log.lastIndexOf("leg1 bitmap") < log.indexOf("leg1 data"), log.toString());
        assertEquals(1, m.dirtyRegions());
        m.close();
        assertTrue(bitmapOf(a).isEmpty() && bitmapOf(b).isEmpty());
    }

    /**
     * Legs last written by a version without the bitmap (region shift 0 in the labels, anything in the bitmap
     * area): nothing says where they agree, so the first open repairs all of it, once.
     */
    @Test
    void legsLabelledWithoutABitmapAreRepairedWholeOnce() throws Exception {
        MemoryBlockDevice a = new MemoryBlockDevice(LEG, 512);
        MemoryBlockDevice b = new MemoryBlockDevice(LEG, 512);
        MirroredDevice m = MirroredDevice.open(a, b);
        byte[] model = new byte[(int) DATA];
        writeRandom(m, model, new Random(51), 30, 51);
        m.close();
        for (MemoryBlockDevice leg : new MemoryBlockDevice[] {a, b}) {
            MirroredDevice.Label now = label(leg);
            MirroredDevice.Label old = new MirroredDevice.Label(now.mirrorId(), now.legIndex(), now.generation() + 1,
                    now.size(), now.blockSize(), now.state0(), now.state1(), now.watermark(), 0);
            ByteBuf raw = Unpooled.buffer(MirroredDevice.Label.SIZE);
            old.writeTo(raw);
            byte[] bytes = new byte[MirroredDevice.Label.SIZE];
            raw.getBytes(0, bytes);
            raw.release();
            assertEquals(IoCompletion.OK, write(leg, MirroredDevice.Label.copyOffset(old.generation()), bytes, true));
        }
        // What an old version left in the bitmap area means nothing.
        assertEquals(IoCompletion.OK, write(b, MirroredDevice.BITMAP_OFFSET, pattern(MirroredDevice.BITMAP_BLOCK, 52), true));

        MirroredDevice upgraded = MirroredDevice.open(a, b);
        upgraded.resyncDone().get(30, TimeUnit.SECONDS);
        assertEquals(DATA, upgraded.counters().resyncBytes(), "all of it");
        int shift = Long.numberOfTrailingZeros(upgraded.regionSize());
        assertEquals(shift, label(a).regionShift(), "the labels vouch for the bitmap now");
        assertEquals(shift, label(b).regionShift());
        assertReadsBack(upgraded, model, "after the upgrade");
        upgraded.close();
        assertTrue(bitmapOf(a).isEmpty() && bitmapOf(b).isEmpty());
        MirroredDevice again = MirroredDevice.open(a, b);
        assertEquals(0, again.counters().resyncBytes(), "once");
        again.close();
    }
    /**
     * A survivor that holds one mutation of the data area at {@code at} inside the device (not on the medium,
     * not completed) until released. A read of that spot while it is held is served first and then lets the
     * mutation go: a copy that does not wait for it reads the old bytes and the mutation lands after the copy.
     */
    static final class HoldingDevice extends ForwardingDevice {
        private final long at;
        private Runnable held;
        private boolean armed;
        volatile boolean releasedByRead;

        HoldingDevice(long at) {
            super(new MemoryBlockDevice(LEG, 512));
            this.at = MirroredDevice.DATA_OFFSET + at;
        }

        synchronized void arm() {
            armed = true;
        }

        synchronized boolean holding() {
            return held != null;
        }

        void release() {
            Runnable now;
            synchronized (this) {
                now = held;
                held = null;
            }
            if (now != null) {
                now.run();
            }
        }

        private boolean hold(long offset, Runnable op) {
            synchronized (this) {
                if (!armed || offset != at) {
                    return false;
                }
                armed = false;
                held = op;
                return true;
            }
        }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            inner.read(offset, length, dst, attachment, completion);
            if (offset <= at && at < offset + length && holding()) {
                releasedByRead = true;
                release();
            }
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
            if (!hold(offset, () -> inner.write(offset, length, src, fua, attachment, completion))) {
                inner.write(offset, length, src, fua, attachment, completion);
            }
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
            if (!hold(offset, () -> inner.writeZeroes(offset, length, fua, attachment, completion))) {
                inner.writeZeroes(offset, length, fua, attachment, completion);
            }
        }

        @Override
        public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
            if (!hold(offset, () -> inner.deallocate(offset, length, attachment, completion))) {
                inner.deallocate(offset, length, attachment, completion);
            }
        }
    }

    /**
     * A write (or write-zeroes, or deallocate) sent to the survivor alone, before the replacement became a
     * target, and still inside the survivor when the resync starts: the copy must not read its spot before it
     * has landed, or the replacement misses an acknowledged write outside any dirty region, and losing the
     * survivor later loses it. The held write is let go either by the copy reading its spot (the copy did not
     * wait: the replacement then holds the old bytes) or, once the resync is waiting for it, by the test.
     */
    @ParameterizedTest
    @ValueSource(strings = {"write", "zeroes", "deallocate"})
    void aWriteInFlightToTheSurvivorWhenAResyncStartsReachesTheReplacement(String kind) throws Exception {
        long at = BLOCK; // in the first chunk: the first one the copy reads
        HoldingDevice a = new HoldingDevice(at);
        MirroredDevice m = MirroredDevice.open(a, null, 4, 0);
        byte[] old = pattern(BLOCK, 61);
        long probeAt = DATA - BLOCK;
        assertEquals(IoCompletion.OK, write(m, at, old, false));
        assertEquals(IoCompletion.OK, write(m, probeAt, pattern(BLOCK, 62), false)); // its region is marked
        byte[] expected = kind.equals("write") ? pattern(BLOCK, 63) : new byte[BLOCK];

        a.arm();
        ByteBuf src = Unpooled.wrappedBuffer(expected);
        CompletableFuture<Integer> held = new CompletableFuture<>();
        switch (kind) {
            case "write" -> m.write(at, BLOCK, src, false, held, DONE);
            case "zeroes" -> m.writeZeroes(at, BLOCK, false, held, DONE);
            default -> m.deallocate(at, BLOCK, held, DONE);
        }
        assertTrue(a.holding() && !held.isDone(), "the survivor holds it");

        MemoryBlockDevice fresh = new MemoryBlockDevice(LEG, 512);
        CompletableFuture<Void> done = m.replace(fresh);
        // Until the held write is let go by the copy's read, or a new write is held back because the resync
        // waits for the one in flight (a probe that is not held back was sent before the resync waited).
        List<CompletableFuture<Integer>> probes = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!a.releasedByRead) {
            CompletableFuture<Integer> probe = writeAsync(m, probeAt, pattern(BLOCK, 64));
            probes.add(probe);
            if (!probe.isDone()) {
                break;
            }
            assertTrue(System.nanoTime() < deadline, "the copy neither read the held spot nor held writes back");
        }
        a.release();
        assertEquals(IoCompletion.OK, get(held), "the write is acknowledged");
        src.release();
        done.get(30, TimeUnit.SECONDS);
        for (CompletableFuture<Integer> probe : probes) {
            assertEquals(IoCompletion.OK, get(probe));
        }
        assertArrayEquals(expected, legData(fresh, at, BLOCK), "the replacement holds the acknowledged " + kind);
        assertFalse(a.releasedByRead, "the copy read the spot of a write still in flight");
        assertLegsEqual(a, fresh, DATA, "after the resync");
        m.close();

        MirroredDevice alone = MirroredDevice.open(null, fresh);
        assertArrayEquals(expected, read(alone, at, BLOCK), "the replacement alone, the survivor lost");
        alone.close();
    }
}
