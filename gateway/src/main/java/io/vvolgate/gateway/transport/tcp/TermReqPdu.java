package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;

/**
 * H2CTermReq / C2HTermReq: terminate the connection after a fatal transport error. HLEN = 24; the data is
 * the header of the PDU in error (at most 128 bytes, so PLEN <= 152). Never digested.
 *
 * <pre>
 *  0               1               2               3
 * +---------------+---------------+---------------+---------------+
 * | 0x02 / 0x03   | FLAGS (0)     | HLEN (24)     | PDO (0)       |  0
 * +---------------+---------------+---------------+---------------+
 * |                    PLEN (24 + data)                           |  4
 * +-------------------------------+-------------------------------+
 * |          FES                  |        FEI (bits 15:0)        |  8
 * +-------------------------------+-------------------------------+
 * |        FEI (bits 31:16)       |         reserved              |  12
 * +-------------------------------+-------------------------------+
 * |                        reserved                               |  16..23
 * +---------------------------------------------------------------+
 * |       header of the PDU in error (up to 128 bytes)            |  24..
 * +---------------------------------------------------------------+
 * </pre>
 * FEI (Fatal Error Information) is the byte offset of the bad field for FES 1 (Invalid Header Field)
 * and FES 6 (Unsupported Parameter), otherwise reserved.
 */
public final class TermReqPdu {
    public static final int FES_OFFSET = 8;
    public static final int FEI_OFFSET = 10;
    public static final int HEADER_LENGTH = 24;
    public static final int MAX_ERROR_DATA = 128;
    public static final int MAX_LENGTH = HEADER_LENGTH + MAX_ERROR_DATA;

    private TermReqPdu() {
    }

    public static int fes(ByteBuf pdu) { return pdu.getUnsignedShortLE(pdu.readerIndex() + FES_OFFSET); }
    public static long fei(ByteBuf pdu) { return pdu.getUnsignedIntLE(pdu.readerIndex() + FEI_OFFSET); }

    /** Appends a term req whose data is {@code errorLength} (at most 128) bytes of {@code errorPdu} from {@code errorIndex}. */
    public static void write(ByteBuf out, int type, int fes, int fei, ByteBuf errorPdu, int errorIndex, int errorLength) {
        int copy = Math.min(errorLength, MAX_ERROR_DATA);
        PduHeader.write(out, type, 0, HEADER_LENGTH, 0, HEADER_LENGTH + copy);
        out.writeShortLE(fes);
        out.writeIntLE(fei);
        out.writeZero(HEADER_LENGTH - 14);
        if (copy > 0) {
            out.writeBytes(errorPdu, errorIndex, copy);
        }
    }
}
