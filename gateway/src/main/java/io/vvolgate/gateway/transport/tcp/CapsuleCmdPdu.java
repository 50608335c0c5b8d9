package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

import java.util.zip.CRC32C;

/**
 * CapsuleCmd: a command capsule, the 64-byte SQE and optionally in-capsule data. HLEN = 72.
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x04          | FLAGS (HD,DD) | HLEN (72)     | PDO           |  0
 * +---------------+---------------+---------------+---------------+
 * |                           PLEN                                |  4
 * +---------------------------------------------------------------+
 * |                    SQE (64 bytes, see below)                  |  8..71
 * +---------------------------------------------------------------+
 * | HDGST (if negotiated) | PAD (to CPDA) | in-capsule DATA | DDGST |
 * +---------------------------------------------------------------+
 *
 * SQE bytes used by the transport:
 *   0  opcode        1  FUSE/PSDT     2..3 CID       4 FCTYPE (opcode 0x7F)
 *   24..31  SGL1 address (offset into in-capsule data for a 0x01 descriptor)
 *   32..35  SGL1 length (LE32)        39 SGL1 type (bits 7:4) | subtype (bits 3:0)
 * </pre>
 */
public final class CapsuleCmdPdu {
    public static final int SQE_OFFSET = 8;
    public static final int HEADER_LENGTH = 72;

    /** Offsets inside the SQE. */
    public static final int SQE_OPCODE_OFFSET = 0;
    public static final int SQE_CID_OFFSET = 2;
    public static final int SQE_FCTYPE_OFFSET = 4;
    public static final int SQE_SGL_ADDRESS_OFFSET = 24;
    public static final int SQE_SGL_LENGTH_OFFSET = 32;
    public static final int SQE_SGL_TYPE_OFFSET = 39;

    public static final int OPCODE_FABRICS = 0x7F;
    /** SGL Data Block descriptor, Offset subtype: data is in the capsule. */
    public static final int SGL_DATA_BLOCK_OFFSET = 0x01;
    /** SGL Transport Data Block descriptor, Transport subtype: data moves by R2T/H2CData or C2HData. */
    public static final int SGL_TRANSPORT_DATA_BLOCK = 0x5A;

    private CapsuleCmdPdu() {
    }

    /**
     * Appends a CapsuleCmd header (and header digest, and padding up to {@code pdo}); the caller appends
     * {@code dataLength} bytes of in-capsule data and, if {@code dataDigest}, the data digest. Host side.
     */
    public static void writeHeader(ByteBuf out, ByteBuf sqe, int sqeIndex, int dataLength,
                                   boolean headerDigest, boolean dataDigest, int alignment, CRC32C crc) {
        int start = out.writerIndex();
        int flags = (headerDigest ? PduHeader.FLAG_HDGSTF : 0) | (dataDigest && dataLength > 0 ? PduHeader.FLAG_DDGSTF : 0);
        int headerEnd = HEADER_LENGTH + (headerDigest ? PduHeader.DIGEST_LENGTH : 0);
        int pdo = dataLength > 0 ? PduHeader.dataOffset(HEADER_LENGTH, headerDigest, alignment) : 0;
        int plen = dataLength > 0
                ? pdo + dataLength + (dataDigest ? PduHeader.DIGEST_LENGTH : 0)
                : headerEnd;
        PduHeader.write(out, PduHeader.TYPE_CAPSULE_CMD, flags, HEADER_LENGTH, pdo, plen);
        out.writeBytes(sqe, sqeIndex, 64);
        if (headerDigest) {
            PduHeader.writeHeaderDigest(out, start, HEADER_LENGTH, crc);
        }
        if (dataLength > 0) {
            out.writeZero(pdo - headerEnd);
        }
    }
}
