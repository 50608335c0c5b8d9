package io.vvolgate.gateway.transport.tcp;

import io.vvolgate.gateway.fabrics.NvmeRequest;

/**
 * The transport's state of one pooled request ({@link NvmeRequest#transportContext}). Its pool index is the
 * TTAG of the R2Ts it sends. Touched by the connection's event loop, except {@link #nextCompleted}, which
 * completing threads write before publishing the command on the connection's completion stack.
 */
final class TcpCommand {

    /** The request lifecycle inside the transport. */
    enum State {
        /** In the pool. */
        FREE,
        /** Write waiting for H2CData; R2Ts outstanding. */
        AWAITING_DATA,
        /** Submitted to the core, not yet completed. */
        EXECUTING
    }

    final int ttag;
    final NvmeRequest request;
    State state = State.FREE;
    /** AWAITING_DATA: bytes asked for by R2Ts so far, and bytes received (always a prefix). */
    int requested;
    int received;
    /** AWAITING_DATA: a data digest failed; the command completes with Transient Transport Error once all data is in. */
    boolean dataDigestFailed;
    /** Link in the connection's lock-free completion stack. */
    TcpCommand nextCompleted;

    TcpCommand(int ttag, NvmeRequest request) {
        this.ttag = ttag;
        this.request = request;
    }
}
