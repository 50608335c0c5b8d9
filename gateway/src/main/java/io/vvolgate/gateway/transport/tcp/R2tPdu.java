package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

import java.util.zip.CRC32C;

/**
 * R2T: Ready to Transfer, the controller asking for a range of a write's data. HLEN = 24, no data.
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x09          | FLAGS (HD)    | HLEN (24)     | PDO (0)       |  0
 * +---------------+---------------+---------------+---------------+
 * |                      PLEN (24 or 28)                          |  4
 * +-------------------------------+-------------------------------+
 * |     CCCID (command's CID)     |   TTAG (controller's tag)     |  8
 * +-------------------------------+-------------------------------+
 * |              R2TO (offset in the command's data)              |  12
 * +---------------------------------------------------------------+
 * |              R2TL (bytes requested, <= MAXH2CDATA)            |  16
 * +---------------------------------------------------------------+
 * |                        reserved                               |  20
 * +---------------------------------------------------------------+
 * |                     HDGST (if negotiated)                     |  24
 * +---------------------------------------------------------------+
 * </pre>
 */
public final class R2tPdu {
    public static final int CCCID_OFFSET = 8;
    public static final int TTAG_OFFSET = 10;
    public static final int R2TO_OFFSET = 12;
    public static final int R2TL_OFFSET = 16;
    public static final int HEADER_LENGTH = 24;

    private R2tPdu() {
    }

    public static int cccid(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + CCCID_OFFSET); }
    public static int ttag(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + TTAG_OFFSET); }
    public static long offset(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + R2TO_OFFSET); }
    public static long length(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + R2TL_OFFSET); }

    public static void write(ByteBuf out, int cccid, int ttag, int offset, int length, boolean headerDigest, CRC32C crc) {
        int start = out.writerIndex();
        int plen = HEADER_LENGTH + (headerDigest ? PduHeader.DIGEST_LENGTH : 0);
        PduHeader.write(out, PduHeader.TYPE_R2T, headerDigest ? PduHeader.FLAG_HDGSTF : 0, HEADER_LENGTH, 0, plen);
        out.writeShortLE(cccid);
        out.writeShortLE(ttag);
        out.writeIntLE(offset);
        out.writeIntLE(length);
        out.writeIntLE(0);
        if (headerDigest) {
            PduHeader.writeHeaderDigest(out, start, HEADER_LENGTH, crc);
        }
    }
}
