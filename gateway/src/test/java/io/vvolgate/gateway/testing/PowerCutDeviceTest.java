package io.vvolgate.gateway.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.testing.DurabilityOracle.BlockReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

@ExtendWith(LeakFailingExtension.class)
class PowerCutDeviceTest {

    private static final int UNIT = PowerCutDevice.UNIT;
    private static final long SIZE = 64L * UNIT;
    private static final byte[] ZERO_UNIT = new byte[UNIT];

    @Test
    void readsSeeTheLatestDataBeforeAnyFlush() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        assertTrue(d.volatileWriteCache());
        byte[] a = pattern(2 * UNIT, 1);
        byte[] b = pattern(UNIT, 2);
        assertEquals(IoCompletion.OK, write(d, 0, a, false));
        assertEquals(IoCompletion.OK, write(d, UNIT, b, false));
        assertArrayEquals(concat(Arrays.copyOf(a, UNIT), b), read(d, 0, 2 * UNIT));
        assertEquals(IoCompletion.OK, deallocate(d, 0, UNIT));
        assertEquals(IoCompletion.OK, writeZeroes(d, UNIT, UNIT, false));
        assertArrayEquals(new byte[2 * UNIT], read(d, 0, 2 * UNIT));
        assertEquals(2, d.unflushedUnits());
        assertEquals(4, d.operations(), "reads are not counted");
    }

    @Test
    void flushedDataSurvivesEveryCut() {
        byte[] a = pattern(8 * UNIT, 1);
        byte[] b = pattern(8 * UNIT, 2);
        for (int seed = 0; seed < 200; seed++) {
            PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
            write(d, 0, a, false);
            assertEquals(IoCompletion.OK, flush(d));
            assertEquals(0, d.unflushedUnits());
            write(d, 4L * UNIT, b, false);
            PowerCutDevice image = d.cut(new Random(seed));
            for (int u = 0; u < 12; u++) {
                byte[] got = read(image, (long) u * UNIT, UNIT);
                String at = "seed " + seed + " unit " + u;
                if (u < 4) {
                    assertArrayEquals(unitOf(a, u), got, at + ": flushed and never overwritten");
                } else if (u < 8) {
                    assertOneOf(got, at, unitOf(a, u), unitOf(b, u - 4));
                } else {
                    assertOneOf(got, at, ZERO_UNIT, unitOf(b, u - 4));
                }
            }
        }
    }

    @Test
    void anUnflushedUnitReadsBackAsOneOfItsVersionsIncludingOlderOnes() {
        byte[][] versions = {pattern(UNIT, 10), pattern(UNIT, 11), pattern(UNIT, 12), pattern(UNIT, 13)};
        Set<Integer> seen = new HashSet<>();
        for (int seed = 0; seed < 300; seed++) {
            PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
            write(d, 5L * UNIT, versions[0], false);
            flush(d);
            for (int v = 1; v < versions.length; v++) {
                write(d, 5L * UNIT, versions[v], false);
            }
            seen.add(assertOneOf(read(d.cut(new Random(seed)), 5L * UNIT, UNIT), "seed " + seed, versions));
        }
        assertEquals(Set.of(0, 1, 2, 3), seen, "lost, the latest, and each older cached version all occur");
    }

    @Test
    void aMultiUnitWriteIsTornPerUnitNeverWithinOne() {
        int units = 16;
        byte[] old = pattern(units * UNIT, 3);
        byte[] fresh = pattern(units * UNIT, 4);
        boolean mixed = false;
        for (int seed = 0; seed < 100; seed++) {
            PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
            write(d, 0, old, true);
            write(d, 0, fresh, false);
            byte[] got = read(d.cut(new Random(seed)), 0, units * UNIT);
            int kept = 0;
            for (int u = 0; u < units; u++) {
                kept += assertOneOf(unitOf(got, u), "seed " + seed + " unit " + u, unitOf(old, u), unitOf(fresh, u));
            }
            mixed |= kept > 0 && kept < units;
        }
        assertTrue(mixed, "some cut keeps part of the write and loses the rest");
    }

    @Test
    void aUnitOfSmallBlocksKeepsAPrefixOfItsWrites() {
        byte[] x = pattern(512, 5);
        byte[] y = pattern(512, 6);
        byte[] none = new byte[1024];
        byte[] xOnly = concat(x, new byte[512]);
        byte[] both = concat(x, y);
        Set<Integer> seen = new HashSet<>();
        for (int seed = 0; seed < 200; seed++) {
            PowerCutDevice d = new PowerCutDevice(SIZE, 512);
            write(d, 0, x, false);
            write(d, 512, y, false);
            seen.add(assertOneOf(read(d.cut(new Random(seed)), 0, 1024), "seed " + seed, none, xOnly, both));
        }
        assertEquals(Set.of(0, 1, 2), seen);
    }

    @Test
    void aFuaWriteIsDurableAtCompletionButDoesNotFlushEarlierWrites() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        byte[] a = pattern(UNIT, 7);
        byte[] b = pattern(UNIT, 8);
        write(d, 0, a, false);
        assertEquals(IoCompletion.OK, write(d, UNIT, b, true));
        PowerCutDevice image = d.cutLosingAll();
        assertArrayEquals(ZERO_UNIT, read(image, 0, UNIT), "the earlier write was never flushed");
        assertArrayEquals(b, read(image, UNIT, UNIT));
    }

    @Test
    void aFuaWriteSurvivesOverAndUnderCachedVersionsOfItsUnit() {
        byte[] x = pattern(512, 1);
        byte[] w = pattern(512, 4);
        byte[] y = pattern(512, 2);
        byte[] z = pattern(512, 3);
        for (int seed = 0; seed < 200; seed++) {
            PowerCutDevice d = new PowerCutDevice(SIZE, 512);
            write(d, 0, x, false);       // cached, sector 0 of unit 0
            write(d, 512, w, false);     // cached, sector 1: a cut must not put it back over the FUA write
            write(d, 512, y, true);      // durable, sector 1
            write(d, 512, z, false);     // cached over it
            byte[] got = read(d.cut(new Random(seed)), 0, 1024);
            assertOneOf(Arrays.copyOf(got, 512), "seed " + seed + " sector 0", new byte[512], x);
            assertOneOf(Arrays.copyOfRange(got, 512, 1024), "seed " + seed + " sector 1", y, z);
        }
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        write(d, 0, pattern(UNIT, 4), false);
        write(d, 0, pattern(UNIT, 5), true);
        assertEquals(0, d.unflushedUnits(), "a whole-unit FUA write supersedes the cached versions");
        assertArrayEquals(pattern(UNIT, 5), read(d.cutLosingAll(), 0, UNIT));
    }

    @Test
    void aFlushMakesWritesCompletedBeforeItDurableAndNoLaterOnes() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        write(d, 0, pattern(UNIT, 1), false);
        flush(d);
        write(d, UNIT, pattern(UNIT, 2), false);
        PowerCutDevice image = d.cutLosingAll();
        assertArrayEquals(pattern(UNIT, 1), read(image, 0, UNIT));
        assertArrayEquals(ZERO_UNIT, read(image, UNIT, UNIT));
    }

    @Test
    void zeroesAndDeallocationAreVolatileUntilFlushedUnlessFua() {
        byte[] data = pattern(3 * UNIT, 9);
        for (int seed = 0; seed < 100; seed++) {
            PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
            write(d, 0, data, false);
            flush(d);
            deallocate(d, 0, UNIT);
            writeZeroes(d, UNIT, UNIT, false);
            writeZeroes(d, 2L * UNIT, UNIT, true);
            byte[] got = read(d.cut(new Random(seed)), 0, 3 * UNIT);
            assertOneOf(unitOf(got, 0), "seed " + seed, unitOf(data, 0), ZERO_UNIT);
            assertOneOf(unitOf(got, 1), "seed " + seed, unitOf(data, 1), ZERO_UNIT);
            assertArrayEquals(ZERO_UNIT, unitOf(got, 2), "FUA zeroes are durable");
        }
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        write(d, 0, data, true);
        deallocate(d, 0, 3L * UNIT);
        flush(d);
        assertArrayEquals(new byte[3 * UNIT], read(d.cutLosingAll(), 0, 3 * UNIT));
    }

    @Test
    void everyOperationFailsWithEioOnceThePowerIsCut() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        write(d, 0, pattern(UNIT, 1), false);
        PowerCutDevice image = d.cutKeepingAll();
        assertFalse(d.isPoweredOn());
        assertEquals(IoCompletion.EIO, readErrno(d, 0, UNIT));
        assertEquals(IoCompletion.EIO, write(d, 0, pattern(UNIT, 2), true));
        assertEquals(IoCompletion.EIO, writeZeroes(d, 0, UNIT, true));
        assertEquals(IoCompletion.EIO, deallocate(d, 0, UNIT));
        assertEquals(IoCompletion.EIO, flush(d));
        assertEquals(1, d.operations(), "nothing is counted with the power off");

        assertTrue(image.isPoweredOn(), "the image is a new machine");
        assertEquals(0, image.operations());
        assertEquals(0, image.unflushedUnits());
        assertArrayEquals(pattern(UNIT, 1), read(image, 0, UNIT));
        assertEquals(IoCompletion.OK, write(image, 0, pattern(UNIT, 3), false));
        assertArrayEquals(pattern(UNIT, 1), read(d.cutKeepingAll(), 0, UNIT),
                "writing to the image does not change the cut device");
    }

    @Test
    void cutAfterOperationsLetsThatManyCompleteThenCutsThePower() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        d.cutAfterOperations(3);
        int[] errnos = new int[5];
        for (int i = 0; i < 5; i++) {
            errnos[i] = write(d, (long) i * UNIT, pattern(UNIT, i), true);
        }
        assertArrayEquals(new int[] {0, 0, 0, IoCompletion.EIO, IoCompletion.EIO}, errnos);
        assertEquals(3, d.operations());
        PowerCutDevice image = d.cutLosingAll();
        for (int i = 0; i < 5; i++) {
            assertArrayEquals(i < 3 ? pattern(UNIT, i) : ZERO_UNIT, read(image, (long) i * UNIT, UNIT), "unit " + i);
        }

        PowerCutDevice now = new PowerCutDevice(SIZE, 4096);
        now.cutAfterOperations(0);
        assertFalse(now.isPoweredOn());
        assertEquals(IoCompletion.EIO, flush(now));
        assertThrows(IllegalArgumentException.class, () -> now.cutAfterOperations(-1));
    }

    @Test
    void aWriteInFlightAtTheCutIsUnacknowledgedYetMayBePartlyOnTheMedium() {
        byte[] first = pattern(UNIT, 1);
        byte[] second = pattern(8 * UNIT, 2);
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        d.cutDuringOperation(2);
        assertEquals(IoCompletion.OK, write(d, 0, first, true));
        assertEquals(IoCompletion.EIO, write(d, UNIT, second, true), "the power failed before the completion");
        assertFalse(d.isPoweredOn());
        int keptUnits = 0;
        for (int seed = 0; seed < 50; seed++) {
            // One instant, many possible media: cut may be asked again on the dead device.
            byte[] got = read(d.cut(new Random(seed)), 0, 9 * UNIT);
            assertArrayEquals(first, unitOf(got, 0));
            for (int u = 1; u < 9; u++) {
                keptUnits += assertOneOf(unitOf(got, u), "seed " + seed + " unit " + u, ZERO_UNIT, unitOf(second, u - 1));
            }
        }
        assertTrue(keptUnits > 0 && keptUnits < 50 * 8, "parts of the unacknowledged write reached the medium");
        assertArrayEquals(new byte[8 * UNIT], read(d.cutLosingAll(), UNIT, 8 * UNIT), "it was never durable");
    }

    @Test
    void devicesOnOnePowerDomainLoseThePowerTogether() {
        PowerCutDevice.PowerDomain power = new PowerCutDevice.PowerDomain();
        PowerCutDevice left = new PowerCutDevice(SIZE, 4096, power);
        PowerCutDevice right = new PowerCutDevice(SIZE, 4096, power);
        power.cutAfterOperations(3);
        assertEquals(IoCompletion.OK, write(left, 0, pattern(UNIT, 1), true));
        assertEquals(IoCompletion.OK, write(right, 0, pattern(UNIT, 2), true));
        assertEquals(IoCompletion.OK, write(left, UNIT, pattern(UNIT, 3), true));
        assertEquals(IoCompletion.EIO, write(right, UNIT, pattern(UNIT, 4), true));
        assertFalse(left.isPoweredOn());
        assertEquals(3, right.operations());

        PowerCutDevice.PowerDomain next = new PowerCutDevice.PowerDomain();
        PowerCutDevice leftAgain = left.cut(new Random(1), next);
        PowerCutDevice rightAgain = right.cut(new Random(1), next);
        assertArrayEquals(pattern(UNIT, 3), read(leftAgain, UNIT, UNIT));
        assertArrayEquals(ZERO_UNIT, read(rightAgain, UNIT, UNIT));
        next.cutNow();
        assertEquals(IoCompletion.EIO, readErrno(leftAgain, 0, UNIT));
        assertEquals(IoCompletion.EIO, readErrno(rightAgain, 0, UNIT));
    }

    @Test
    void closingSyncsSoACutAfterACleanCloseKeepsEverything() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        write(d, 0, pattern(2 * UNIT, 1), false);
        d.close();
        assertEquals(IoCompletion.EIO, write(d, 0, pattern(UNIT, 2), true), "a closed device serves nothing");
        assertArrayEquals(pattern(2 * UNIT, 1), read(d.cutLosingAll(), 0, 2 * UNIT));
    }

    @Test
    void outOfRangeAndMisalignedRequestsFailWithErangeAndChangeNothing() {
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        assertEquals(IoCompletion.ERANGE, write(d, SIZE, pattern(UNIT, 1), false));
        assertEquals(IoCompletion.ERANGE, write(d, 512, pattern(UNIT, 1), false));
        assertEquals(IoCompletion.ERANGE, writeZeroes(d, SIZE - UNIT, 2L * UNIT, true));
        assertEquals(IoCompletion.ERANGE, readErrno(d, SIZE, UNIT));
        assertEquals(0, d.unflushedUnits());
        assertEquals(3, d.operations(), "refused writes are still operations (cut points)");
    }

    @Test
    void aLargeSparseDeviceIsCheapToCut() {
        long size = 1L << 40;
        PowerCutDevice d = new PowerCutDevice(size, 4096);
        write(d, size - UNIT, pattern(UNIT, 1), true);
        assertEquals(IoCompletion.OK, deallocate(d, 0, size / 2), "deallocating untouched space caches nothing");
        assertEquals(0, d.unflushedUnits());
        assertArrayEquals(pattern(UNIT, 1), read(d.cut(new Random(1)), size - UNIT, UNIT));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void concurrentWritersLoseNothingTheyWereToldIsDurable() throws Exception {
        long seed = baseSeed();
        int threads = 4;
        int unitsPerThread = 16;
        for (int round = 0; round < 20; round++) {
            long roundSeed = seed + round;
            PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
            DurabilityOracle oracle = new DurabilityOracle(UNIT);
            d.cutAfterOperations(1 + new Random(roundSeed).nextInt(threads * 100));
            List<Future<?>> done = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
                for (int t = 0; t < threads; t++) {
                    Random rnd = new Random(roundSeed * 31 + t);
                    long base = (long) t * unitsPerThread * UNIT;
                    done.add(pool.submit(() -> {
                        for (int op = 0; op < 100; op++) {
                            runRandomOperation(d, oracle, rnd, base, unitsPerThread);
                        }
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            }
            PowerCutDevice image = d.cut(new Random(roundSeed));
            List<String> violations = oracle.check(BlockReader.of(image));
            if (!violations.isEmpty()) {
                fail("seed " + roundSeed + " (rerun with -Dpowercut.seed=" + seed + "): " + violations);
            }
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void everyCutPointOfRandomWorkloadsKeepsWhatWasDurable() {
        long seed = baseSeed();
        int cuts = 0;
        for (int workload = 0; workload < 20; workload++) {
            long workloadSeed = seed + workload;
            // Half the workloads write 512-byte blocks, so that partial-unit and FUA-over-cached cases occur.
            int grain = workload % 2 == 0 ? 4096 : 512;
            long operations = runWorkload(new PowerCutDevice(SIZE, grain), new DurabilityOracle(grain), workloadSeed);
            for (long k = 0; k <= operations; k++) {
                for (boolean inFlight : new boolean[] {false, true}) {
                    if (inFlight && k == 0) {
                        continue;
                    }
                    PowerCutDevice d = new PowerCutDevice(SIZE, grain);
                    DurabilityOracle oracle = new DurabilityOracle(grain);
                    if (inFlight) {
                        d.cutDuringOperation(k);
                    } else {
                        d.cutAfterOperations(k);
                    }
                    runWorkload(d, oracle, workloadSeed);
                    assertFalse(d.isPoweredOn() && k < operations, "the cut happened");
                    Random cutRandom = new Random(workloadSeed * 1_000_003 + k * 2 + (inFlight ? 1 : 0));
                    List<String> violations = oracle.check(BlockReader.of(d.cut(cutRandom)));
                    if (!violations.isEmpty()) {
                        fail("workload seed " + workloadSeed + " (" + grain + "-byte blocks), cut "
                                + (inFlight ? "during" : "after") + " operation " + k
                                + " (rerun with -Dpowercut.seed=" + seed + "): " + violations);
                    }
                    cuts++;
                }
            }
        }
        assertTrue(cuts > 1000, "ran " + cuts + " cuts");
    }

    @Test
    void theOracleCatchesADeviceThatLosesFlushedData() {
        // The oracle is only worth its checks if a broken device fails them: recording a flush the
        // device never saw is what a device that ignores flushes looks like.
        PowerCutDevice d = new PowerCutDevice(SIZE, 4096);
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        write(d, 0, pattern(UNIT, 1), false);
        oracle.acknowledged(0, pattern(UNIT, 1), false);
        oracle.acknowledgedFlush();
        AssertionError e = assertThrows(AssertionError.class, () -> oracle.verify(BlockReader.of(d.cutLosingAll())));
        assertTrue(e.getMessage().contains("lost durable write"), e.getMessage());
    }

    // ---------------------------------------------------------------------------------------------------
    // Workloads

    /**
     * Runs the seeded workload (64 operations on 32 blocks) until it ends or the power is cut, as a writer
     * on a machine that lost power would; returns the operations counted.
     */
    private static long runWorkload(PowerCutDevice d, DurabilityOracle oracle, long seed) {
        Random rnd = new Random(seed);
        for (int op = 0; op < 64 && d.isPoweredOn(); op++) {
            runRandomOperation(d, oracle, rnd, 0, 32);
        }
        return d.operations();
    }

    /**
     * One random write, zeroing, deallocation or flush of 1 to 4 blocks (of the oracle's unit size) within
     * {@code blocks} blocks from {@code base}.
     */
    private static void runRandomOperation(PowerCutDevice d, DurabilityOracle oracle, Random rnd, long base, int blocks) {
        int grain = oracle.unitSize();
        int kind = rnd.nextInt(10);
        int first = rnd.nextInt(blocks);
        int count = 1 + rnd.nextInt(Math.min(4, blocks - first));
        long offset = base + (long) first * grain;
        boolean fua = rnd.nextInt(4) == 0;
        if (kind < 6) {
            byte[] data = pattern(count * grain, rnd.nextInt());
            DurabilityOracle.Write w = oracle.submitted(offset, data);
            end(w, write(d, offset, data, fua), fua);
        } else if (kind < 7) {
            DurabilityOracle.Write w = oracle.submittedZeroes(offset, (long) count * grain);
            end(w, writeZeroes(d, offset, (long) count * grain, fua), fua);
        } else if (kind < 8) {
            DurabilityOracle.Write w = oracle.submittedZeroes(offset, (long) count * grain);
            end(w, deallocate(d, offset, (long) count * grain), false);
        } else {
            DurabilityOracle.Flush f = oracle.flushSubmitted();
            if (flush(d) == IoCompletion.OK) {
                f.completed();
            } else {
                f.failed();
            }
        }
    }

    private static void end(DurabilityOracle.Write w, int errno, boolean fua) {
        if (errno == IoCompletion.OK) {
            w.completed(fua);
        } else {
            w.failed();
        }
    }

    private static long baseSeed() {
        Long fixed = Long.getLong("powercut.seed");
        long seed = fixed != null ? fixed : new Random().nextLong();
        System.out.println("power-cut seed " + seed + " (rerun with -Dpowercut.seed=" + seed + ")");
        return seed;
    }

    // ---------------------------------------------------------------------------------------------------
    // Synchronous calls; every buffer is released here

    private static final IoCompletion<int[]> BOX = (box, errno) -> box[0] = errno;

    private static int write(BlockDevice d, long offset, byte[] data, boolean fua) {
        ByteBuf src = PooledByteBufAllocator.DEFAULT.directBuffer(data.length);
        try {
            src.writeBytes(data);
            int[] box = {-1};
            d.write(offset, data.length, src, fua, box, BOX);
            assertEquals(0, src.readerIndex(), "write leaves the source's indices unchanged");
            assertEquals(data.length, src.writerIndex(), "write leaves the source's indices unchanged");
            return box[0];
        } finally {
            src.release();
        }
    }

    private static byte[] read(BlockDevice d, long offset, int length) {
        return BlockReader.of(d).read(offset, length);
    }

    private static int readErrno(BlockDevice d, long offset, int length) {
        ByteBuf dst = PooledByteBufAllocator.DEFAULT.directBuffer(length);
        try {
            int[] box = {-1};
            d.read(offset, length, dst, box, BOX);
            if (box[0] == IoCompletion.OK) {
                assertEquals(length, dst.writerIndex(), "a read advances writerIndex by its length");
            }
            return box[0];
        } finally {
            dst.release();
        }
    }

    private static int writeZeroes(BlockDevice d, long offset, long length, boolean fua) {
        int[] box = {-1};
        d.writeZeroes(offset, length, fua, box, BOX);
        return box[0];
    }

    private static int deallocate(BlockDevice d, long offset, long length) {
        int[] box = {-1};
        d.deallocate(offset, length, box, BOX);
        return box[0];
    }

    private static int flush(BlockDevice d) {
        int[] box = {-1};
        d.flush(box, BOX);
        return box[0];
    }

    // ---------------------------------------------------------------------------------------------------
    // Data

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        Random rnd = new Random(seed);
        rnd.nextBytes(b);
        return b;
    }

    private static byte[] unitOf(byte[] data, int unit) {
        return Arrays.copyOfRange(data, unit * UNIT, (unit + 1) * UNIT);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Asserts {@code got} equals one of {@code allowed}; returns which. */
    private static int assertOneOf(byte[] got, String where, byte[]... allowed) {
        for (int i = 0; i < allowed.length; i++) {
            if (Arrays.equals(got, allowed[i])) {
                return i;
            }
        }
        throw new AssertionError(where + ": content is none of the " + allowed.length + " allowed versions");
    }
}
