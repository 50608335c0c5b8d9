package io.vvolgate.gateway.nvme;

/** Controller properties reached with Fabrics Property Get/Set (NVMe base 2.0 §3.1.3): offsets and fields. */
public final class Properties {
    public static final int CAP = 0x00;   // 8 bytes
    public static final int VS = 0x08;    // 4 bytes
    public static final int CC = 0x14;    // 4 bytes
    public static final int CSTS = 0x1C;  // 4 bytes
    public static final int NSSR = 0x20;  // 4 bytes

    /** Version 1.3.0: Linux then asks for namespace identification descriptors (CNS 03h). */
    public static final int VERSION_1_3 = 0x00010300;

    public static final int CC_EN = 1;
    public static final int CC_SHN_SHIFT = 14;
    public static final int CC_SHN_MASK = 0x3 << CC_SHN_SHIFT;
    public static final int CC_IOSQES_SHIFT = 16;
    public static final int CC_IOCQES_SHIFT = 20;

    public static final int CSTS_RDY = 1;
    public static final int CSTS_CFS = 1 << 1;
    public static final int CSTS_SHST_OCCURRING = 1 << 2;
    public static final int CSTS_SHST_COMPLETE = 2 << 2;

    private Properties() {
    }

    /**
     * CAP for a fabrics controller: MQES (0-based), CQR = 1, TO in 500 ms units, CSS bit 37 (NVM command
     * set), MPSMIN = MPSMAX = 0 (4 KiB pages).
     */
    public static long capabilities(int maxQueueEntries, int timeoutHalfSeconds) {
        return ((long) (maxQueueEntries - 1) & 0xFFFF)
                | (1L << 16)
                | ((long) (timeoutHalfSeconds & 0xFF) << 24)
                | (1L << 37);
    }
}
