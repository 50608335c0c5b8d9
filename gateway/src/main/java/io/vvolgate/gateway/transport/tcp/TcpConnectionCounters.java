package io.vvolgate.gateway.transport.tcp;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Counters and gauges of one NVMe/TCP connection. Written only by the connection's event loop (single
 * writer, release stores, no read-modify-write atomics); read by anyone, e.g. metrics.
 */
public final class TcpConnectionCounters {

    /** What is counted. Names ending in {@code _NOW} are gauges (current value), the rest only grow. */
    public enum Counter {
        /** CapsuleCmd PDUs that became commands. */
        COMMANDS_RECEIVED,
        /** Commands handed to the core. */
        COMMANDS_SUBMITTED,
        /** Commands the core completed (also after the connection closed). */
        COMMANDS_COMPLETED,
        /** Commands the transport answered itself with an error status, without submitting them. */
        COMMANDS_FAILED_BY_TRANSPORT,
        H2C_DATA_PDUS,
        C2H_DATA_PDUS,
        R2TS_SENT,
        CAPSULE_RESPONSES_SENT,
        TERM_REQS_SENT,
        TERM_REQS_RECEIVED,
        HEADER_DIGEST_ERRORS,
        DATA_DIGEST_ERRORS,
        /** Connections closed because ICReq and Connect did not both arrive in time. */
        CONNECT_TIMEOUTS,
        /** A CapsuleCmd arrived with the request pool empty (or quiesced); it waits and reading stops. */
        POOL_EXHAUSTED,
        /** Times the connection stopped reading its socket. */
        READ_PAUSES,
        /** Flushes of the socket (one per read batch or completion batch). */
        FLUSHES,
        /** Commands waiting for H2CData (R2T outstanding). */
        AWAITING_DATA_NOW,
        /** Commands submitted to the core and not yet completed. */
        EXECUTING_NOW
    }

    private static final Counter[] COUNTERS = Counter.values();
    private final AtomicLongArray values = new AtomicLongArray(COUNTERS.length);

    void increment(Counter counter) {
        add(counter, 1);
    }

    void add(Counter counter, long delta) {
        int i = counter.ordinal();
        values.setRelease(i, values.getPlain(i) + delta);
    }

    public long get(Counter counter) {
        return values.getAcquire(counter.ordinal());
    }

    public Map<Counter, Long> snapshot() {
        Map<Counter, Long> map = new EnumMap<>(Counter.class);
        for (Counter c : COUNTERS) {
            map.put(c, get(c));
        }
        return map;
    }

    @Override
    public String toString() {
        return snapshot().toString();
    }
}
