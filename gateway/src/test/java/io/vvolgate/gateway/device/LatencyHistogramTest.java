package io.vvolgate.gateway.device;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Latencies land in the bucket Prometheus's le rule puts them in. */
@Timeout(10)
class LatencyHistogramTest {

    @Test
    void aLatencyOnABoundIsInThatBoundsBucket() {
        assertEquals(0, LatencyHistogram.bucketOf(0));
        assertEquals(0, LatencyHistogram.bucketOf(25_000), "le=25µs includes 25 µs");
        assertEquals(1, LatencyHistogram.bucketOf(25_001));
        assertEquals(5, LatencyHistogram.bucketOf(1_000_000));
        assertEquals(13, LatencyHistogram.bucketOf(1_000_000_000L));
        assertEquals(14, LatencyHistogram.bucketOf(1_000_000_001L), "above 1 s: +Inf");
        assertEquals(14, LatencyHistogram.bucketOf(Long.MAX_VALUE));
    }

    @Test
    void snapshotCountsSumsAndCumulates() {
        LatencyHistogram h = new LatencyHistogram();
        h.record(10_000);
        h.record(10_000);
        h.record(3_000_000);
        h.record(-5);                                   // a clock step back counts as 0
        LatencyHistogram.Snapshot s = h.snapshot();
        assertEquals(4, s.count());
        assertEquals(3_020_000, s.sumNanos());
        assertEquals(3, s.bucketCounts()[0]);
        assertEquals(1, s.bucketCounts()[7], "3 ms is in le=5ms");
        long[] cumulative = s.cumulativeCounts();
        assertEquals(3, cumulative[6]);
        assertEquals(4, cumulative[7]);
        assertEquals(4, cumulative[LatencyHistogram.BUCKETS - 1], "+Inf equals the count");
        assertArrayEquals(LatencyHistogram.upperBoundsSeconds(), s.upperBoundsSeconds());
        assertEquals(s, h.snapshot());
    }
}
