package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

import java.util.zip.CRC32C;

/**
 * CapsuleResp: a response capsule carrying the 16-byte completion queue entry. HLEN = 24, no data.
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x05          | FLAGS (HD)    | HLEN (24)     | PDO (0)       |  0
 * +---------------+---------------+---------------+---------------+
 * |                      PLEN (24 or 28)                          |  4
 * +---------------------------------------------------------------+
 * |                  CQE DW0: command specific                    |  8
 * +---------------------------------------------------------------+
 * |                  CQE DW1: command specific                    |  12
 * +-------------------------------+-------------------------------+
 * |          SQHD                 |           SQID                |  16
 * +-------------------------------+-----------------------------+-+
 * |          CID                  |   STATUS (15 bits)          |P|  20
 * +-------------------------------+-----------------------------+-+
 * |                     HDGST (if negotiated)                     |  24
 * +---------------------------------------------------------------+
 * </pre>
 * P is the phase tag, always 0 on fabrics.
 */
public final class CapsuleRespPdu {
    public static final int CQE_OFFSET = 8;
    public static final int DW0_OFFSET = 8;
    public static final int DW1_OFFSET = 12;
    public static final int SQHD_OFFSET = 16;
    public static final int SQID_OFFSET = 18;
    public static final int CID_OFFSET = 20;
    public static final int STATUS_OFFSET = 22;
    public static final int HEADER_LENGTH = 24;

    private CapsuleRespPdu() {
    }

    public static int result0(ByteBuf pdu) { return pdu.getIntLE(pdu.readerIndex() + DW0_OFFSET); }
    public static int result1(ByteBuf pdu) { return pdu.getIntLE(pdu.readerIndex() + DW1_OFFSET); }
    public static int sqHead(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + SQHD_OFFSET); }
    public static int sqId(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + SQID_OFFSET); }
    public static int cid(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + CID_OFFSET); }
    /** The 15-bit status field (DNR, M, CRD, SCT, SC), without the phase tag. */
    public static int status(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + STATUS_OFFSET) >>> 1; }

    public static void write(ByteBuf out, int result0, int result1, int sqHead, int sqId, int cid, int status,
                             boolean headerDigest, CRC32C crc) {
        int start = out.writerIndex();
        int plen = HEADER_LENGTH + (headerDigest ? PduHeader.DIGEST_LENGTH : 0);
        PduHeader.write(out, PduHeader.TYPE_CAPSULE_RESP, headerDigest ? PduHeader.FLAG_HDGSTF : 0, HEADER_LENGTH, 0, plen);
        out.writeIntLE(result0);
        out.writeIntLE(result1);
        out.writeShortLE(sqHead);
        out.writeShortLE(sqId);
        out.writeShortLE(cid);
        out.writeShortLE((status & 0x7fff) << 1);
        if (headerDigest) {
            PduHeader.writeHeaderDigest(out, start, HEADER_LENGTH, crc);
        }
    }
}
