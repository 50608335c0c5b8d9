package io.vvolgate.gateway.device;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A rate limit: how much it lets through at once, how it paces the rest, and that idling earns no credit. */
@Timeout(10)
class TokenBucketTest {
    static final long MS = 1_000_000L;

    @Test
    void unlimitedNeverWaits() {
        TokenBucket bucket = new TokenBucket(0);
        for (int i = 0; i < 1000; i++) {
            bucket.take(1_000_000, 0);
            assertEquals(0, bucket.waitNanos(0, 0));
        }
        assertTrue(bucket.unlimited());
    }

    @Test
    void letsTheBurstThroughThenPacesAtTheRate() {
        TokenBucket bucket = new TokenBucket(0);
        bucket.setRate(1000);
        int admitted = 0;
        while (bucket.waitNanos(0, 10 * MS) == 0) {
            bucket.take(1, 0);
            admitted++;
        }
        assertEquals(11, admitted, "10 ms of burst at 1 ms a unit, plus the one due now");
        assertEquals(MS, bucket.waitNanos(0, 10 * MS));
        assertEquals(0, bucket.waitNanos(MS, 10 * MS));
    }

    @Test
    void idleTimeDoesNotBankMoreThanTheBurst() {
        TokenBucket bucket = new TokenBucket(0);
        bucket.setRate(1000);
        bucket.take(1, 0);
        long later = 60_000 * MS;                       // a minute idle
        int admitted = 0;
        while (bucket.waitNanos(later, 10 * MS) == 0) {
            bucket.take(1, later);
            admitted++;
        }
        assertEquals(11, admitted, "a minute of idling still allows only the burst");
    }

    @Test
    void worksWithAClockThatStartsNegative() {
        long start = Long.MIN_VALUE + 5;                // System.nanoTime may be anything
        TokenBucket bucket = new TokenBucket(start);
        bucket.setRate(1);
        assertEquals(0, bucket.waitNanos(start, 0));
        bucket.take(1, start);
        assertEquals(1000 * MS, bucket.waitNanos(start, 0));
    }

    @Test
    void costsRoundUpAndNeverOverflow() {
        assertEquals(333_333_334, TokenBucket.costNanos(1, 3), "1/3 s rounded up: never above the limit");
        assertEquals(1_000_000_000L, TokenBucket.costNanos(3, 3));
        assertEquals(1, TokenBucket.costNanos(4096, 1L << 50));
        assertEquals(86_400L * 1_000_000_000L, TokenBucket.costNanos(Integer.MAX_VALUE, 1), "capped at a day");
        assertTrue(TokenBucket.costNanos(1, 10_000_000_000L) > 0);
    }

    @Test
    void refusesANegativeRate() {
        assertThrows(IllegalArgumentException.class, () -> new TokenBucket(0).setRate(-1));
    }
}
