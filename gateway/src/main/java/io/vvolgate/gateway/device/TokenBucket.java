package io.vvolgate.gateway.device;

import java.util.concurrent.atomic.AtomicLong;

/**
 * One rate limit (commands per second, or bytes per second) as a token bucket in its GCRA form: instead of
 * a token count refilled by a clock, it keeps the <em>theoretical arrival time</em> (TAT), the moment by
 * which everything admitted so far would have been sent at exactly the limit. Admitting {@code n} units
 * costs {@code n / rate} seconds and pushes the TAT that far; a request conforms while the TAT is no more
 * than the burst allowance ahead of now.
 *
 * <pre>
 *   conforms(now)  :=  TAT - burst &lt;= now                 wait = TAT - burst - now
 *   take(n, now)   :   TAT := max(TAT, now) + n * 1e9 / rate
 *
 *   time ──────────────────────────────────────────────────────────────▶
 *            now                      TAT
 *             |◀──── burst ─────▶|      |      a request arriving here waits until now' = TAT - burst
 * </pre>
 *
 * <p>The whole state is one {@link AtomicLong}: {@link #take} is a compare-and-set loop, so any number of
 * threads may admit at once without a lock or an allocation. {@link #waitNanos} and {@link #take} are
 * separate steps; two threads that both saw "conforms" both take, overshooting the limit by at most one
 * request each, which no host can notice and is cheaper than a rollback. The rate is a volatile field,
 * changed at any time by the control plane; a change applies to the next request.
 *
 * <p>Times are {@code System.nanoTime()}-style values (any origin, compared by subtraction).
 */
public final class TokenBucket {

    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private static final long MAX_COST_SECONDS = 86_400L;

    private final AtomicLong theoreticalArrival;
    private volatile long ratePerSecond;

    /** An unlimited bucket; {@code now} is the current time of the clock it will be used with. */
    public TokenBucket(long now) {
        this.theoreticalArrival = new AtomicLong(now);
    }

    /** Units per second; 0 means unlimited. */
    public void setRate(long unitsPerSecond) {
        if (unitsPerSecond < 0) {
            throw new IllegalArgumentException("a rate limit cannot be negative: " + unitsPerSecond);
        }
        ratePerSecond = unitsPerSecond;
    }

    public long rate() {
        return ratePerSecond;
    }

    /** True when no limit is set. */
    public boolean unlimited() {
        return ratePerSecond == 0;
    }

    /** Nanoseconds until a request may be admitted, 0 if it may be now (or the bucket is unlimited). */
    public long waitNanos(long now, long burstNanos) {
        if (ratePerSecond == 0) {
            return 0;
        }
        long wait = theoreticalArrival.get() - burstNanos - now;
        return Math.max(0, wait);
    }

    /** Charges {@code units} at {@code now}; does nothing when unlimited. */
    public void take(long units, long now) {
        long rate = ratePerSecond;
        if (rate == 0 || units == 0) {
            return;
        }
        long cost = costNanos(units, rate);
        long seen;
        long next;
        do {
            seen = theoreticalArrival.get();
            // An idle bucket does not bank credit beyond the burst: the TAT restarts from now.
            next = (seen - now > 0 ? seen : now) + cost;
        } while (!theoreticalArrival.compareAndSet(seen, next));
    }

    /** units / rate in nanoseconds, rounded up so the limit is never exceeded by rounding. */
    static long costNanos(long units, long rate) {
        long whole = units / rate;
        if (whole >= MAX_COST_SECONDS) {
            // A limit so low that one request costs a day (1 byte/s and a 1 GiB write): keep the TAT
            // arithmetic far from overflow; such a volume is effectively stopped either way.
            return MAX_COST_SECONDS * NANOS_PER_SECOND;
        }
        long rest = units % rate;
        // rest < rate, and rest * 1e9 fits in a long for any rate below ~9.2e9 units/s; above that the
        // fraction is computed in floating point (a rate that high is unlimited in practice).
        long fraction = rate < 9_000_000_000L
                ? (rest * NANOS_PER_SECOND + rate - 1) / rate
                : (long) Math.ceil((double) rest * NANOS_PER_SECOND / rate);
        return whole * NANOS_PER_SECOND + fraction;
    }
}
