package io.vvolgate.gateway.nvme;

/**
 * Byte offsets in a 64-byte submission queue entry (all fields little-endian).
 *
 * <pre>
 *  0      1      2      3      4 ..  7   8 .. 15    16 .. 23   24 ......... 39   40 ......... 63
 * +------+------+-------------+--------+----------+----------+-----------------+-----------------+
 * |OPC   |FUSE/ |   CID       | NSID   | CDW2-3   |  MPTR    | DPTR (SGL1)     | CDW10 .. CDW15  |
 * |      |PSDT  |             |(FCTYPE)|          |          |                 |                 |
 * +------+------+-------------+--------+----------+----------+-----------------+-----------------+
 * </pre>
 *
 * For Fabrics commands byte 4 is FCTYPE. SGL1: address 24..31, length 32..35, type/subtype at 39.
 */
public final class Sqe {
    public static final int OPCODE_OFFSET = 0;
    public static final int FLAGS_OFFSET = 1;
    public static final int CID_OFFSET = 2;
    public static final int NSID_OFFSET = 4;
    public static final int FCTYPE_OFFSET = 4;
    public static final int SGL1_ADDRESS_OFFSET = 24;
    public static final int SGL1_LENGTH_OFFSET = 32;
    public static final int SGL1_TYPE_OFFSET = 39;
    public static final int CDW10_OFFSET = 40;
    public static final int CDW11_OFFSET = 44;
    public static final int CDW12_OFFSET = 48;
    public static final int CDW13_OFFSET = 52;
    public static final int CDW14_OFFSET = 56;
    public static final int CDW15_OFFSET = 60;

    // Fabrics Connect (NVMe-oF 1.1 §3.3): fields inside the SQE.
    public static final int CONNECT_RECFMT_OFFSET = 40;
    public static final int CONNECT_QID_OFFSET = 42;
    public static final int CONNECT_SQSIZE_OFFSET = 44;
    public static final int CONNECT_CATTR_OFFSET = 46;
    public static final int CONNECT_KATO_OFFSET = 48;

    // Fabrics Property Get/Set: ATTRIB (size: 0 = 4 bytes, 1 = 8 bytes), OFST, VALUE.
    public static final int PROPERTY_ATTRIB_OFFSET = 40;
    public static final int PROPERTY_OFST_OFFSET = 44;
    public static final int PROPERTY_VALUE_OFFSET = 48;

    private Sqe() {
    }
}
