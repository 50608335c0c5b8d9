package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
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
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
        List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
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

    /** Cut instants (operations after the resync starts) times seeds: each seed shuffles blocks and images differently. */
    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> resyncCuts() {
        List<org.junit.jupiter.params.provider.Arguments> cases = new ArrayList<>();
        for (int cutAt : new int[] {1, 2, 3, 5, 8, 12, 17, 25, 33, 40, 55, 70, 90, 110, 150, 200}) {
            for (long seed = 1; seed <= 3; seed++) {
                cases.add(org.junit.jupiter.params.provider.Arguments.of(cutAt, seed, seed == 2));
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
    @org.junit.jupiter.params.provider.MethodSource("resyncCuts")
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
        java.util.Collections.shuffle(order, rnd);
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
        } catch (java.util.concurrent.ExecutionException expected) {
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
}
