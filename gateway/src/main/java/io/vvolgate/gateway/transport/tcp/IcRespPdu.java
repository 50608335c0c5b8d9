package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

/**
 * ICResp: the controller's Initialize Connection Response. HLEN = PLEN = 128, no digests, no data.
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x01          | FLAGS (0)     | HLEN (128)    | PDO (0)       |  0
 * +---------------+---------------+---------------+---------------+
 * |                        PLEN (128)                             |  4
 * +-------------------------------+---------------+---------------+
 * |          PFV (0)              |     CPDA      |  DGST  |HD|DD|  8
 * +-------------------------------+---------------+---------------+
 * |               MAXH2CDATA (bytes, >= 4096, dword multiple)     |  12
 * +---------------------------------------------------------------+
 * |                     reserved (112 bytes)                      |  16..127
 * +---------------------------------------------------------------+
 * </pre>
 */
public final class IcRespPdu {
    public static final int PFV_OFFSET = 8;
    public static final int CPDA_OFFSET = 10;
    public static final int DIGEST_OFFSET = 11;
    public static final int MAXH2CDATA_OFFSET = 12;
    public static final int LENGTH = 128;

    private IcRespPdu() {
    }

    public static int pfv(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + PFV_OFFSET); }
    public static int cpda(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + CPDA_OFFSET); }
    public static int digest(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + DIGEST_OFFSET); }
    public static long maxH2CData(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + MAXH2CDATA_OFFSET); }

    public static void write(ByteBuf out, int cpda, int digest, int maxH2CData) {
        PduHeader.write(out, PduHeader.TYPE_IC_RESP, 0, LENGTH, 0, LENGTH);
        out.writeShortLE(0);
        out.writeByte(cpda);
        out.writeByte(digest);
        out.writeIntLE(maxH2CData);
        out.writeZero(LENGTH - 16);
    }
}
