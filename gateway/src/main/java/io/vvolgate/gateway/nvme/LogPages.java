package io.vvolgate.gateway.nvme;

/**
 * Log page identifiers and layouts served by Get Log Page.
 *
 * <p>Get Log Page: CDW10 LID(7:0) LSP(14:8) RAE(15) NUMDL(31:16); CDW11 NUMDU(15:0); CDW12/13 LPO (byte
 * offset). The transfer is (NUMD + 1) dwords.
 */
public final class LogPages {
    public static final int ERROR_INFORMATION = 0x01;
    public static final int SMART_HEALTH = 0x02;
    public static final int FIRMWARE_SLOT = 0x03;
    public static final int CHANGED_NAMESPACE_LIST = 0x04;
    public static final int COMMANDS_SUPPORTED_AND_EFFECTS = 0x05;
    public static final int ANA = 0x0C;
    public static final int DISCOVERY = 0x70;

    public static final int SMART_SIZE = 512;
    public static final int FIRMWARE_SLOT_SIZE = 512;
    public static final int ERROR_ENTRY_SIZE = 64;
    public static final int CHANGED_NAMESPACE_LIST_SIZE = 4096;
    public static final int EFFECTS_SIZE = 4096;

    // SMART / Health Information (512 bytes)
    public static final int SMART_CRITICAL_WARNING = 0;
    /** Critical Warning bit 0: available spare is below its threshold. */
    public static final int SMART_WARNING_SPARE = 1;
    /** Critical Warning bit 1: a temperature is at or above an over-temperature threshold. */
    public static final int SMART_WARNING_TEMPERATURE = 1 << 1;
    public static final int SMART_TEMPERATURE = 1;
    public static final int SMART_AVAILABLE_SPARE = 3;
    public static final int SMART_SPARE_THRESHOLD = 4;
    public static final int SMART_PERCENTAGE_USED = 5;
    public static final int SMART_DATA_UNITS_READ = 32;
    public static final int SMART_DATA_UNITS_WRITTEN = 48;
    public static final int SMART_HOST_READS = 64;
    public static final int SMART_HOST_WRITES = 80;
    public static final int SMART_POWER_CYCLES = 112;
    public static final int SMART_POWER_ON_HOURS = 128;
    public static final int SMART_UNSAFE_SHUTDOWNS = 144;
    public static final int SMART_MEDIA_ERRORS = 160;

    /**
     * ANA log: a 16-byte header (CHGCNT u64, NGRPS u16), then per group a 32-byte descriptor (ANAGRPID u32,
     * NNSID u32, CHGCNT u64, state u8 at 16) followed by NNSID namespace IDs, unless LSP bit 0 (RGO) asks
     * for groups only.
     */
    public static final int ANA_HEADER_SIZE = 16;
    public static final int ANA_DESCRIPTOR_SIZE = 32;
    public static final int ANA_LSP_GROUPS_ONLY = 1;
    public static final int ANA_STATE_OPTIMIZED = 0x01;
    public static final int ANA_STATE_NON_OPTIMIZED = 0x02;
    public static final int ANA_STATE_INACCESSIBLE = 0x03;

    /**
     * Discovery log page: a 1024-byte header (GENCTR u64 at 0, NUMREC u64 at 8, RECFMT u16 at 16), then
     * 1024-byte entries:
     *
     * <pre>
     *  0      1      2       3     4..5    6..7    8..9   10..31   32..63    256..511  512..767  768..1023
     * TRTYPE ADRFAM SUBTYPE TREQ  PORTID  CNTLID  ASQSZ  rsvd     TRSVCID   SUBNQN    TRADDR    TSAS
     * </pre>
     */
    public static final int DISCOVERY_HEADER_SIZE = 1024;
    public static final int DISCOVERY_ENTRY_SIZE = 1024;
    public static final int DISC_TRTYPE = 0;
    public static final int DISC_ADRFAM = 1;
    public static final int DISC_SUBTYPE = 2;
    public static final int DISC_TREQ = 3;
    public static final int DISC_PORTID = 4;
    public static final int DISC_CNTLID = 6;
    public static final int DISC_ASQSZ = 8;
    public static final int DISC_TRSVCID = 32;
    public static final int DISC_SUBNQN = 256;
    public static final int DISC_TRADDR = 512;
    public static final int DISC_TSAS = 768;
    public static final int SUBTYPE_DISCOVERY_REFERRAL = 1;
    public static final int SUBTYPE_NVME = 2;
    public static final int SUBTYPE_CURRENT_DISCOVERY = 3;
    /** TREQ: secure channel not required (bits 1:0 = 2) and SQ flow control may be disabled (bit 2). */
    public static final int TREQ_NOT_REQUIRED_SQFLOW_DISABLE_OK = 0x2 | 0x4;

    private LogPages() {
    }
}
