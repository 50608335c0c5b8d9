package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;

/**
 * What {@link TcpPduDecoder} emits instead of a PDU when the common header cannot be framed: the connection
 * answers with a C2HTermReq carrying {@code fes}, {@code fei} and {@link #content()} (the offending header)
 * and closes. Reference-counted like the PDUs it replaces.
 */
public final class PduFramingError extends DefaultByteBufHolder {
    private final int fes;
    private final int fei;

    public PduFramingError(int fes, int fei, ByteBuf header) {
        super(header);
        this.fes = fes;
        this.fei = fei;
    }

    public int fes() { return fes; }
    public int fei() { return fei; }

    @Override
    public String toString() {
        return "PduFramingError[fes=" + fes + ", fei=" + fei + "]";
    }
}
