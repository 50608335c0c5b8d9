package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

import java.util.zip.CRC32C;

/**
 * H2CData: host-to-controller data answering an R2T. HLEN = 24. Flags: HDGSTF, DDGSTF, LAST_PDU (last PDU for the R2T).
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x06          | FLAGS         | HLEN (24)     | PDO           |  0
 * +---------------+---------------+---------------+---------------+
 * |                           PLEN                                |  4
 * +-------------------------------+-------------------------------+
 * |     CCCID (command's CID)     |     TTAG (from R2T)           |  8
 * +-------------------------------+-------------------------------+
 * |              DATAO (offset in the command's data)             |  12
 * +---------------------------------------------------------------+
 * |              DATAL (bytes of data in this PDU)                |  16
 * +---------------------------------------------------------------+
 * |                        reserved                               |  20
 * +---------------------------------------------------------------+
 * | HDGST? | PAD (to PDO) | DATA (DATAL bytes) | DDGST?           |
 * +---------------------------------------------------------------+
 * </pre>
 */
public final class H2CDataPdu {
    public static final int CCCID_OFFSET = 8;
    public static final int TTAG_OFFSET = 10;
    public static final int DATAO_OFFSET = 12;
    public static final int DATAL_OFFSET = 16;
    public static final int HEADER_LENGTH = 24;

    private H2CDataPdu() {
    }

    public static int cccid(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + CCCID_OFFSET); }
    public static int ttag(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + TTAG_OFFSET); }
    public static long dataOffset(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + DATAO_OFFSET); }
    public static long dataLength(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + DATAL_OFFSET); }

    /**
     * Appends the header, the header digest (if {@code headerDigest}) and zero padding up to {@code pdo};
     * the caller appends {@code dataLength} bytes of data and, if the flags say so, the data digest.
     */
    public static void writeHeader(ByteBuf out, int flags, int cccid, int ttag, int dataOffset, int dataLength,
                                   int pdo, boolean headerDigest, boolean dataDigest, CRC32C crc) {
        int start = out.writerIndex();
        int allFlags = flags | (headerDigest ? PduHeader.FLAG_HDGSTF : 0) | (dataDigest ? PduHeader.FLAG_DDGSTF : 0);
        int plen = pdo + dataLength + (dataDigest ? PduHeader.DIGEST_LENGTH : 0);
        PduHeader.write(out, PduHeader.TYPE_H2C_DATA, allFlags, HEADER_LENGTH, pdo, plen);
        out.writeShortLE(cccid);
        out.writeShortLE(ttag);
        out.writeIntLE(dataOffset);
        out.writeIntLE(dataLength);
        out.writeIntLE(0);
        if (headerDigest) {
            PduHeader.writeHeaderDigest(out, start, HEADER_LENGTH, crc);
        }
        out.writeZero(pdo - (out.writerIndex() - start));
    }
}
