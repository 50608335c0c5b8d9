package io.vvolgate.gateway.nvme;

/**
 * NVMe completion status, as the 15-bit Status Field of CQE DW3 bits 31:17:
 *
 * <pre>
 *  14   13  12:11  10:8   7:0
 * +---+---+-----+------+------+
 * |DNR| M | CRD | SCT  |  SC  |
 * +---+---+-----+------+------+
 * </pre>
 *
 * Constants below are complete status fields (SCT and SC combined, DNR set where retrying cannot help).
 * Sources: NVMe Base 2.0 §4.6 (generic, command specific, media), NVMe-oF 1.1 §3.3 (Fabrics).
 */
public final class Status {
    public static final int DNR = 1 << 14;
    public static final int MORE = 1 << 13;

    public static final int SCT_GENERIC = 0;
    public static final int SCT_COMMAND_SPECIFIC = 1;
    public static final int SCT_MEDIA = 2;

    public static final int SUCCESS = 0;

    // Generic command status (SCT 0)
    public static final int INVALID_OPCODE = generic(0x01) | DNR;
    public static final int INVALID_FIELD = generic(0x02) | DNR;
    public static final int COMMAND_ID_CONFLICT = generic(0x03) | DNR;
    public static final int DATA_TRANSFER_ERROR = generic(0x04);
    public static final int ABORTED_POWER_LOSS = generic(0x05);
    public static final int INTERNAL_ERROR = generic(0x06);
    public static final int ABORT_REQUESTED = generic(0x07);
    public static final int ABORTED_SQ_DELETION = generic(0x08);
    public static final int ABORTED_FAILED_FUSED = generic(0x09);
    public static final int ABORTED_MISSING_FUSED = generic(0x0A);
    public static final int INVALID_NAMESPACE = generic(0x0B) | DNR;
    public static final int COMMAND_SEQUENCE_ERROR = generic(0x0C) | DNR;
    public static final int SGL_DATA_LENGTH_INVALID = generic(0x0F) | DNR;
    public static final int SGL_DESCRIPTOR_TYPE_INVALID = generic(0x11) | DNR;
    public static final int INVALID_USE_OF_CMB = generic(0x12) | DNR;
    public static final int NAMESPACE_NOT_READY = generic(0x82);
    public static final int NAMESPACE_WRITE_PROTECTED = generic(0x20) | DNR;
    public static final int LBA_OUT_OF_RANGE = generic(0x80) | DNR;
    public static final int CAPACITY_EXCEEDED = generic(0x81) | DNR;
    public static final int ANA_INACCESSIBLE = generic(0x02) | (3 << 8);

    // Command specific status (SCT 1)
    public static final int INVALID_QUEUE_IDENTIFIER = specific(0x01) | DNR;
    public static final int INVALID_QUEUE_SIZE = specific(0x02) | DNR;
    public static final int ABORT_COMMAND_LIMIT_EXCEEDED = specific(0x03) | DNR;
    public static final int ASYNC_EVENT_LIMIT_EXCEEDED = specific(0x05) | DNR;
    public static final int INVALID_LOG_PAGE = specific(0x09) | DNR;
    public static final int FEATURE_NOT_SAVEABLE = specific(0x0D) | DNR;
    public static final int FEATURE_NOT_CHANGEABLE = specific(0x0E) | DNR;
    public static final int CONFLICTING_ATTRIBUTES = specific(0x80) | DNR;
    public static final int ATOMIC_WRITE_UNIT_EXCEEDED = specific(0x14) | DNR;
    /** Fabrics Connect: the record format or queue is not supported. */
    public static final int CONNECT_INCOMPATIBLE_FORMAT = specific(0x80) | DNR;
    public static final int CONNECT_CONTROLLER_BUSY = specific(0x81);
    public static final int CONNECT_INVALID_PARAMETERS = specific(0x82) | DNR;
    public static final int CONNECT_RESTART_DISCOVERY = specific(0x83);
    public static final int CONNECT_INVALID_HOST = specific(0x84) | DNR;

    // Media and data integrity errors (SCT 2)
    public static final int WRITE_FAULT = media(0x80);
    public static final int UNRECOVERED_READ_ERROR = media(0x81);
    public static final int COMPARE_FAILURE = media(0x85) | DNR;

    private Status() {
    }

    public static int generic(int sc) {
        return sc;
    }

    public static int specific(int sc) {
        return (SCT_COMMAND_SPECIFIC << 8) | sc;
    }

    public static int media(int sc) {
        return (SCT_MEDIA << 8) | sc;
    }

    public static int sct(int status) {
        return (status >> 8) & 0x7;
    }

    public static int sc(int status) {
        return status & 0xff;
    }

    /** A short name for logs and tests. */
    public static String describe(int status) {
        return String.format("SCT %d SC 0x%02x%s", sct(status), sc(status), (status & DNR) != 0 ? " DNR" : "");
    }
}
