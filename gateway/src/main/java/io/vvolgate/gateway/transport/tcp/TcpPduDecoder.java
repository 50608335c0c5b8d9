package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Frames NVMe/TCP PDUs from the byte stream. Emits each whole PDU as a retained slice (reader index at the
 * PDU's first byte, {@code PLEN} readable bytes), or a {@link PduFramingError} when the common header
 * cannot be framed: a PDU type a host never sends, the wrong HLEN for the type, or a PLEN too small or
 * larger than we accept for the type. After an error it discards everything that follows, since the stream
 * has lost its framing.
 *
 * <p>Only the framing is checked here; digests, PDO, flags and whether the PDU is allowed now are the
 * connection's business. One instance per connection (never shared); event loop only.
 */
public final class TcpPduDecoder extends ByteToMessageDecoder {
    private final int maxCapsuleCmdLength;
    private final int maxH2CDataLength;
    private boolean failed;

    public TcpPduDecoder(TcpTransportOptions options) {
        this.maxCapsuleCmdLength = options.maxCapsuleCmdLength();
        this.maxH2CDataLength = options.maxH2CDataPduLength();
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (in.readableBytes() < PduHeader.LENGTH) {
            return;
        }
        int start = in.readerIndex();
        int type = in.getUnsignedByte(start + PduHeader.TYPE_OFFSET);
        int hlen = in.getUnsignedByte(start + PduHeader.HLEN_OFFSET);
        long plen = in.getUnsignedIntLE(start + PduHeader.PLEN_OFFSET);

        long error = check(type, hlen, plen);
        if (error != 0) {
            failed = true;
            int copy = Math.min(in.readableBytes(), Math.min(Math.max(hlen, PduHeader.LENGTH), TermReqPdu.MAX_ERROR_DATA));
            out.add(new PduFramingError((int) (error >>> 32), (int) error, in.readRetainedSlice(copy)));
            in.skipBytes(in.readableBytes());
            return;
        }
        if (in.readableBytes() < plen) {
            return;
        }
        out.add(in.readRetainedSlice((int) plen));
    }

    /** 0 if the header frames, else FES in the high word and FEI in the low word. */
    private long check(int type, int hlen, long plen) {
        int expectedHlen;
        long minPlen;
        long maxPlen;
        int tooLongFes = PduHeader.FES_INVALID_HEADER_FIELD;
        switch (type) {
            case PduHeader.TYPE_IC_REQ -> {
                expectedHlen = IcReqPdu.LENGTH;
                minPlen = IcReqPdu.LENGTH;
                maxPlen = IcReqPdu.LENGTH;
            }
            case PduHeader.TYPE_H2C_TERM_REQ -> {
                expectedHlen = TermReqPdu.HEADER_LENGTH;
                minPlen = TermReqPdu.HEADER_LENGTH;
                maxPlen = TermReqPdu.MAX_LENGTH;
            }
            case PduHeader.TYPE_CAPSULE_CMD -> {
                expectedHlen = CapsuleCmdPdu.HEADER_LENGTH;
                minPlen = CapsuleCmdPdu.HEADER_LENGTH;
                maxPlen = maxCapsuleCmdLength;
            }
            case PduHeader.TYPE_H2C_DATA -> {
                expectedHlen = H2CDataPdu.HEADER_LENGTH;
                minPlen = H2CDataPdu.HEADER_LENGTH + 1;
                maxPlen = maxH2CDataLength;
                tooLongFes = PduHeader.FES_DATA_TRANSFER_LIMIT_EXCEEDED;
            }
            default -> {
                // Controller-to-host types, and types the spec does not define.
                return error(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.TYPE_OFFSET);
            }
        }
        if (hlen != expectedHlen) {
            return error(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.HLEN_OFFSET);
        }
        if (plen < minPlen) {
            return error(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET);
        }
        if (plen > maxPlen) {
            return tooLongFes == PduHeader.FES_INVALID_HEADER_FIELD
                    ? error(tooLongFes, PduHeader.PLEN_OFFSET)
                    : error(tooLongFes, 0);
        }
        return 0;
    }

    private static long error(int fes, int fei) {
        return ((long) fes << 32) | (fei & 0xffffffffL);
    }
}
