package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

/**
 * ICReq: the host's Initialize Connection Request, the first PDU on every connection. HLEN = PLEN = 128,
 * no digests, no data.
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x00          | FLAGS (0)     | HLEN (128)    | PDO (0)       |  0
 * +---------------+---------------+---------------+---------------+
 * |                        PLEN (128)                             |  4
 * +-------------------------------+---------------+---------------+
 * |          PFV (0)              |     HPDA      |  DGST  |HD|DD|  8   DGST bit 0 HDGST_ENABLE, bit 1 DDGST_ENABLE
 * +-------------------------------+---------------+---------------+
 * |                MAXR2T (0's based, per command)                |  12
 * +---------------------------------------------------------------+
 * |                     reserved (112 bytes)                      |  16..127
 * +---------------------------------------------------------------+
 * </pre>
 * HPDA: host PDU data alignment, data in C2H PDUs starts at a multiple of (HPDA + 1) * 4 bytes (0..31).
 */
public final class IcReqPdu {
    public static final int PFV_OFFSET = 8;
    public static final int HPDA_OFFSET = 10;
    public static final int DIGEST_OFFSET = 11;
    public static final int MAXR2T_OFFSET = 12;
    public static final int LENGTH = 128;

    public static final int DIGEST_HEADER = 0x01;
    public static final int DIGEST_DATA = 0x02;
    public static final int MAX_HPDA = 31;

    private IcReqPdu() {
    }

    public static int pfv(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + PFV_OFFSET); }
    public static int hpda(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + HPDA_OFFSET); }
    public static int digest(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + DIGEST_OFFSET); }
    /** MAXR2T as sent: 0's based, so 0 means one outstanding R2T per command. */
    public static long maxR2t(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + MAXR2T_OFFSET); }

    /** Appends an ICReq (the host side; used by tests and the host library). */
    public static void write(ByteBuf out, int pfv, int hpda, int digest, int maxR2t) {
        PduHeader.write(out, PduHeader.TYPE_IC_REQ, 0, LENGTH, 0, LENGTH);
        out.writeShortLE(pfv);
        out.writeByte(hpda);
        out.writeByte(digest);
        out.writeIntLE(maxR2t);
        out.writeZero(LENGTH - 16);
    }
}
