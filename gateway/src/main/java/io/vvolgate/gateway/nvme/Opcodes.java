package io.vvolgate.gateway.nvme;

/**
 * Command opcodes (SQE byte 0) and Fabrics command types (SQE byte 4 when the opcode is {@link #FABRICS}).
 * Bits 1:0 of an opcode give its data direction: 01 host to controller, 10 controller to host.
 */
public final class Opcodes {
    /** Fabrics commands share one opcode; FCTYPE says which. */
    public static final int FABRICS = 0x7F;

    // Fabrics command types (NVMe-oF 1.1 §6)
    public static final int FCTYPE_PROPERTY_SET = 0x00;
    public static final int FCTYPE_CONNECT = 0x01;
    public static final int FCTYPE_PROPERTY_GET = 0x04;
    public static final int FCTYPE_AUTH_SEND = 0x05;
    public static final int FCTYPE_AUTH_RECEIVE = 0x06;
    public static final int FCTYPE_DISCONNECT = 0x08;

    // Admin commands
    public static final int ADMIN_GET_LOG_PAGE = 0x02;
    public static final int ADMIN_IDENTIFY = 0x06;
    public static final int ADMIN_ABORT = 0x08;
    public static final int ADMIN_SET_FEATURES = 0x09;
    public static final int ADMIN_GET_FEATURES = 0x0A;
    public static final int ADMIN_ASYNC_EVENT_REQUEST = 0x0C;
    public static final int ADMIN_KEEP_ALIVE = 0x18;

    // NVM command set I/O commands
    public static final int IO_FLUSH = 0x00;
    public static final int IO_WRITE = 0x01;
    public static final int IO_READ = 0x02;
    public static final int IO_COMPARE = 0x05;
    public static final int IO_WRITE_ZEROES = 0x08;
    public static final int IO_DATASET_MANAGEMENT = 0x09;

    /** FUSE field values (CDW0 bits 9:8). */
    public static final int FUSE_NONE = 0;
    public static final int FUSE_FIRST = 1;
    public static final int FUSE_SECOND = 2;

    private Opcodes() {
    }

    /** Data direction of a command from its opcode and, for Fabrics commands, its FCTYPE: 0 none, 1 H2C, 2 C2H, 3 both. */
    public static int dataDirection(int opcode, int fctype) {
        return (opcode == FABRICS ? fctype : opcode) & 0x3;
    }
}
