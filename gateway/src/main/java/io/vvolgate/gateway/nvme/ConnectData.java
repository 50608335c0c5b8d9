package io.vvolgate.gateway.nvme;

/**
 * The 1024-byte data of a Fabrics Connect command (NVMe-oF 1.1 §3.3, Figure 20).
 *
 * <pre>
 *  0 ....... 15  16 .. 17  18 ...... 255  256 ........ 511  512 ........ 767  768 ...... 1023
 * +------------+---------+--------------+-----------------+-----------------+----------------+
 * |  HOSTID    | CNTLID  |  reserved    |  SUBNQN         |  HOSTNQN        |  reserved      |
 * +------------+---------+--------------+-----------------+-----------------+----------------+
 * </pre>
 */
public final class ConnectData {
    public static final int SIZE = 1024;
    public static final int HOSTID_OFFSET = 0;
    public static final int CNTLID_OFFSET = 16;
    public static final int SUBNQN_OFFSET = 256;
    public static final int HOSTNQN_OFFSET = 512;
    public static final int NQN_FIELD_LENGTH = 256;
    /** CNTLID value asking for the dynamic controller model: the target chooses. */
    public static final int CNTLID_DYNAMIC = 0xFFFF;
    /** CATTR bit 2: the host disables SQ flow control. */
    public static final int CATTR_DISABLE_SQ_FLOW_CONTROL = 1 << 2;

    private ConnectData() {
    }
}
