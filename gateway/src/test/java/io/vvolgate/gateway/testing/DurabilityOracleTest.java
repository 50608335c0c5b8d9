package io.vvolgate.gateway.testing;

import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.testing.DurabilityOracle.BlockReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class DurabilityOracleTest {

    private static final int UNIT = 4096;

    /** A medium the test sets by hand, standing in for whatever a crash left behind. */
    private static final class Medium implements BlockReader {
        final byte[] bytes = new byte[64 * UNIT];
        final List<long[]> reads = new ArrayList<>();

        void put(long offset, byte[] data) {
            System.arraycopy(data, 0, bytes, (int) offset, data.length);
        }

        @Override
        public byte[] read(long offset, int length) {
            reads.add(new long[] {offset, length});
            return Arrays.copyOfRange(bytes, (int) offset, (int) offset + length);
        }
    }

    @Test
    void aFuaWriteMustReadBackAndAnOlderVersionIsNamedAsALostWrite() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(0, data(1), true);
        oracle.acknowledged(0, data(2), true);
        m.put(0, data(2));
        oracle.verify(m);
        m.put(0, data(1));
        String report = String.join("\n", oracle.check(m));
        assertTrue(report.contains("unit 0 at offset 0 holds write #1, which durable write #2 superseded"), report);
    }

    @Test
    void dataNobodyWroteIsReportedAsGarbage() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(UNIT, data(1), false);
        m.put(UNIT, data(99));
        AssertionError e = assertThrows(AssertionError.class, () -> oracle.verify(m));
        assertTrue(e.getMessage().contains("unit 1 at offset 4096 holds data never written there (garbage)"), e.getMessage());
    }

    @Test
    void unflushedAndInFlightWritesMayOrMayNotHaveLanded() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(0, data(1), false);
        DurabilityOracle.Write inFlight = oracle.submitted(UNIT, data(2));
        oracle.verify(m); // neither landed: zeroes, as before
        m.put(0, data(1));
        m.put(UNIT, data(2));
        oracle.verify(m); // both landed
        inFlight.failed();
        oracle.verify(m); // a failed write may still have reached the medium
    }

    @Test
    void aFlushCoversOnlyWritesCompletedBeforeItWasSubmitted() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(0, data(1), false);
        DurabilityOracle.Write late = oracle.submitted(UNIT, data(2));
        DurabilityOracle.Flush flush = oracle.flushSubmitted();
        late.completed(false);
        flush.completed();
        m.put(0, data(1));
        oracle.verify(m); // unit 1 still zero: it completed after the flush was submitted
        m.put(0, new byte[UNIT]);
        assertEquals(1, oracle.check(m).size(), "unit 0 was flushed");
    }

    @Test
    void aFailedFlushGuaranteesNothing() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        oracle.acknowledged(0, data(1), false);
        DurabilityOracle.Flush flush = oracle.flushSubmitted();
        flush.failed();
        oracle.verify(new Medium());
        assertThrows(IllegalStateException.class, flush::completed, "a flush ends once");
    }

    @Test
    void writesAfterTheDurableOneMayHaveLandedAndZeroesCount() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(0, data(1), false);
        oracle.acknowledgedFlush();
        oracle.acknowledged(0, data(2), false);
        oracle.acknowledgedZeroes(0, UNIT, false);
        m.put(0, data(1));
        oracle.verify(m);
        m.put(0, data(2));
        oracle.verify(m);
        m.put(0, new byte[UNIT]);
        oracle.verify(m); // the deallocate landed
        oracle.acknowledgedFlush();
        m.put(0, data(2));
        assertEquals(1, oracle.check(m).size(), "the zeroes are durable now");
    }

    @Test
    void anOlderWriteStillInFlightMayLandAfterTheDurableOne() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        DurabilityOracle.Write slow = oracle.submitted(0, data(1));
        oracle.acknowledged(0, data(2), true);
        m.put(0, data(1));
        oracle.verify(m);
        slow.completed(false);
        oracle.acknowledged(0, data(3), true);
        assertEquals(1, oracle.check(m).size(), "once it ended and a newer write was durable, it is stale");
    }

    @Test
    void readsAreBatchedOverConsecutiveUnits() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(0, new byte[3 * UNIT], true);
        oracle.acknowledged(10L * UNIT, data(5), false);
        oracle.verify(m);
        assertEquals(2, m.reads.size());
        assertEquals(3 * UNIT, m.reads.getFirst()[1]);
        assertEquals(4, oracle.trackedUnits());
    }

    @Test
    void rebaseMakesWhatReadsBackNowTheDurableState() {
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Medium m = new Medium();
        oracle.acknowledged(0, data(1), false);
        m.put(0, data(1));
        oracle.rebase(m);
        m.put(0, new byte[UNIT]);
        assertEquals(1, oracle.check(m).size(), "what recovery found is now the durable content");
        DurabilityOracle.Write open = oracle.submitted(UNIT, data(2));
        assertThrows(IllegalStateException.class, () -> oracle.rebase(m), "not with writes in flight");
        open.completed(true);
    }

    @Test
    void misalignedRecordsAreRefused() {
        DurabilityOracle oracle = new DurabilityOracle(512);
        assertThrows(IllegalArgumentException.class, () -> oracle.submitted(100, new byte[512]));
        assertThrows(IllegalArgumentException.class, () -> oracle.submitted(0, new byte[100]));
        assertThrows(IllegalArgumentException.class, () -> new DurabilityOracle(12));
    }

    @Test
    void aDeviceReaderReportsAFailedRead() {
        PowerCutDevice d = new PowerCutDevice(64L * UNIT, 4096);
        BlockReader reader = BlockReader.of(d);
        assertEquals(UNIT, reader.read(0, UNIT).length);
        d.cutLosingAll();
        AssertionError e = assertThrows(AssertionError.class, () -> reader.read(0, UNIT));
        assertTrue(e.getMessage().contains("errno " + IoCompletion.EIO), e.getMessage());
    }

    private static byte[] data(int seed) {
        byte[] b = new byte[UNIT];
        new Random(seed).nextBytes(b);
        return b;
    }
}
