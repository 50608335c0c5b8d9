package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The 8-byte common header (CH) every NVMe/TCP PDU starts with, the PDU type and flag values, and the
 * CRC32C digest helpers shared by all PDUs.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +---------------+---------------+---------------+---------------+
 * |   PDU-Type    |     FLAGS     |     HLEN      |      PDO      |  0
 * +---------------+---------------+---------------+---------------+
 * |                        PLEN (LE32)                            |  4
 * +---------------------------------------------------------------+
 * |  PDU-specific header (to HLEN) | HDGST? | PAD | DATA | DDGST?  |
 * +---------------------------------------------------------------+
 * </pre>
 * HLEN is the header length without the header digest; PDO the offset of the data from the start of the
 * PDU (0 when there is none); PLEN the whole PDU including digests and padding.
 *
 * <p>Accessors read at {@code pdu.readerIndex() + OFFSET}; writers append at the writer index.
 */
public final class PduHeader {
    public static final int TYPE_OFFSET = 0;
    public static final int FLAGS_OFFSET = 1;
    public static final int HLEN_OFFSET = 2;
    public static final int PDO_OFFSET = 3;
    public static final int PLEN_OFFSET = 4;
    public static final int LENGTH = 8;

    public static final int TYPE_IC_REQ = 0x00;
    public static final int TYPE_IC_RESP = 0x01;
    public static final int TYPE_H2C_TERM_REQ = 0x02;
    public static final int TYPE_C2H_TERM_REQ = 0x03;
    public static final int TYPE_CAPSULE_CMD = 0x04;
    public static final int TYPE_CAPSULE_RESP = 0x05;
    public static final int TYPE_H2C_DATA = 0x06;
    public static final int TYPE_C2H_DATA = 0x07;
    public static final int TYPE_R2T = 0x09;

    /** A header digest follows the PDU header. */
    public static final int FLAG_HDGSTF = 0x01;
    /** A data digest follows the PDU data. */
    public static final int FLAG_DDGSTF = 0x02;
    /** H2CData/C2HData: last data PDU of the transfer (of the R2T for H2C, of the command for C2H). */
    public static final int FLAG_LAST_PDU = 0x04;
    /** C2HData: the command succeeded and no CapsuleResp follows (only with SQ flow control disabled). */
    public static final int FLAG_SUCCESS = 0x08;

    /** Length of a header or data digest (CRC32C, little-endian). */
    public static final int DIGEST_LENGTH = 4;

    /** Fatal Error Status values of H2CTermReq/C2HTermReq. */
    public static final int FES_INVALID_HEADER_FIELD = 0x01;
    public static final int FES_PDU_SEQUENCE_ERROR = 0x02;
    public static final int FES_HEADER_DIGEST_ERROR = 0x03;
    public static final int FES_DATA_TRANSFER_OUT_OF_RANGE = 0x04;
    public static final int FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05;
    public static final int FES_UNSUPPORTED_PARAMETER = 0x06;

    private PduHeader() {
    }

    public static int type(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + TYPE_OFFSET); }
    public static int flags(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + FLAGS_OFFSET); }
    public static int hlen(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + HLEN_OFFSET); }
    public static int pdo(ByteBuf pdu) { return pdu.getUnsignedByte(pdu.readerIndex() + PDO_OFFSET); }
    public static long plen(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + PLEN_OFFSET); }

    /** Appends a common header. */
    public static void write(ByteBuf out, int type, int flags, int hlen, int pdo, int plen) {
        out.writeByte(type);
        out.writeByte(flags);
        out.writeByte(hlen);
        out.writeByte(pdo);
        out.writeIntLE(plen);
    }

    /** Appends the header digest over the {@code hlen} bytes written from {@code headerStart}. */
    public static void writeHeaderDigest(ByteBuf out, int headerStart, int hlen, CRC32C crc) {
        out.writeIntLE(crc32c(crc, out, headerStart, hlen));
    }

    /** PDO for a PDU whose data must start at a multiple of {@code alignment} bytes after header and digest. */
    public static int dataOffset(int hlen, boolean headerDigest, int alignment) {
        int end = hlen + (headerDigest ? DIGEST_LENGTH : 0);
        return (end + alignment - 1) / alignment * alignment;
    }

    /**
     * CRC32C of {@code length} bytes at {@code index}, as NVMe/TCP digests carry it (the standard
     * CRC-32C value, sent little-endian). {@code crc} is a reusable instance owned by the caller's thread.
     */
    public static int crc32c(CRC32C crc, ByteBuf buf, int index, int length) {
        crc.reset();
        int count = buf.nioBufferCount();
        if (count == 1) {
            crc.update(buf.nioBuffer(index, length));
        } else if (count > 1) {
            for (ByteBuffer part : buf.nioBuffers(index, length)) {
                crc.update(part);
            }
        } else {
            for (int i = 0; i < length; i++) {
                crc.update(buf.getByte(index + i));
            }
        }
        return (int) crc.getValue();
    }
}
