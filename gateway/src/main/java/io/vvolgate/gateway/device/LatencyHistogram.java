package io.vvolgate.gateway.device;

import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * Command latencies in fixed buckets, ready to be exported as a Prometheus classic histogram: a count per
 * bucket (an observation lands in the first bucket whose upper bound it does not exceed, the {@code le}
 * rule) and the sum of all observations in nanoseconds.
 *
 * <p>The bounds are fixed, not configurable, so that every volume's histogram has the same buckets and
 * dashboards can aggregate them; they span what storage latency looks like, from a fast NVMe read (25 µs)
 * to a command that waited on a QoS limit or a stalled device (1 s and above).
 *
 * <p>Threads: {@link #record} is called by any completing thread at once; it allocates nothing and takes
 * no lock (one {@link LongAdder} per bucket, so completions on different cores do not fight over one cache
 * line). {@link #snapshot} is called by the metrics scrape; it is not atomic with respect to concurrent
 * records, but its count is the sum of its buckets, so the exported {@code _count} and {@code +Inf} bucket
 * always agree.
 */
public final class LatencyHistogram {

    /** Bucket upper bounds in nanoseconds; the last bucket (+Inf) is implicit. */
    private static final long[] BOUNDS_NANOS = {
            25_000L, 50_000L, 100_000L, 250_000L, 500_000L,
            1_000_000L, 2_500_000L, 5_000_000L, 10_000_000L, 25_000_000L, 50_000_000L,
            100_000_000L, 250_000_000L, 1_000_000_000L,
    };

    /** Number of buckets including +Inf. */
    public static final int BUCKETS = BOUNDS_NANOS.length + 1;

    private static final double[] BOUNDS_SECONDS = new double[BUCKETS];

    static {
        for (int i = 0; i < BOUNDS_NANOS.length; i++) {
            BOUNDS_SECONDS[i] = BOUNDS_NANOS[i] / 1e9;
        }
        BOUNDS_SECONDS[BUCKETS - 1] = Double.POSITIVE_INFINITY;
    }

    private final LongAdder[] counts = new LongAdder[BUCKETS];
    private final LongAdder sumNanos = new LongAdder();

    public LatencyHistogram() {
        for (int i = 0; i < BUCKETS; i++) {
            counts[i] = new LongAdder();
        }
    }

    /** Records one observation; a negative latency (a clock going backwards) counts as zero. */
    public void record(long nanos) {
        long latency = Math.max(0, nanos);
        counts[bucketOf(latency)].increment();
        sumNanos.add(latency);
    }

    static int bucketOf(long nanos) {
        int i = 0;
        // 14 bounds: a linear scan is as fast as a binary search and has no unpredictable branch pattern
        // for the common case (the first few buckets).
        while (i < BOUNDS_NANOS.length && nanos > BOUNDS_NANOS[i]) {
            i++;
        }
        return i;
    }

    /** The bucket upper bounds in seconds, the last one {@code +Inf}; a fresh copy. */
    public static double[] upperBoundsSeconds() {
        return BOUNDS_SECONDS.clone();
    }

    public Snapshot snapshot() {
        long[] c = new long[BUCKETS];
        long total = 0;
        for (int i = 0; i < BUCKETS; i++) {
            c[i] = counts[i].sum();
            total += c[i];
        }
        return new Snapshot(BOUNDS_SECONDS, c, total, sumNanos.sum());
    }

    /**
     * An immutable copy of a histogram.
     *
     * @param upperBoundsSeconds the {@code le} of each bucket, ascending, the last {@code +Inf}
     * @param bucketCounts       observations per bucket, NOT cumulative (what
     *                           {@code ClassicHistogramBuckets.of} takes); see {@link #cumulativeCounts}
     * @param count              observations in all, the sum of {@code bucketCounts}
     * @param sumNanos           sum of all observations in nanoseconds
     */
    public record Snapshot(double[] upperBoundsSeconds, long[] bucketCounts, long count, long sumNanos) {
        public Snapshot {
            upperBoundsSeconds = upperBoundsSeconds.clone();
            bucketCounts = bucketCounts.clone();
        }

        @Override
        public double[] upperBoundsSeconds() {
            return upperBoundsSeconds.clone();
        }

        @Override
        public long[] bucketCounts() {
            return bucketCounts.clone();
        }

        /** Observations at or below each bound: the {@code _bucket{le=...}} values of the text format. */
        public long[] cumulativeCounts() {
            long[] out = new long[bucketCounts.length];
            long running = 0;
            for (int i = 0; i < out.length; i++) {
                running += bucketCounts[i];
                out[i] = running;
            }
            return out;
        }

        /** Sum of all observations in seconds, the {@code _sum} of the text format. */
        public double sumSeconds() {
            return sumNanos / 1e9;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Snapshot s && Arrays.equals(upperBoundsSeconds, s.upperBoundsSeconds)
                    && Arrays.equals(bucketCounts, s.bucketCounts) && count == s.count && sumNanos == s.sumNanos;
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(bucketCounts) + Long.hashCode(sumNanos);
        }

        @Override
        public String toString() {
            return "Snapshot[buckets=" + Arrays.toString(bucketCounts) + ", count=" + count
                    + ", sumNanos=" + sumNanos + "]";
        }
    }
}
