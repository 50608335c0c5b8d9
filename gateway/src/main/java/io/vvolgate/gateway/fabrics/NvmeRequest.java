package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * One NVMe command on its way through the target, from the capsule that carried it to the completion
 * queue entry that answers it. Transport-independent: NVMe/TCP and FC-NVMe both fill one in.
 *
 * <p>Ownership: the transport that received the command owns the request and its buffers. It fills
 * {@link #sqe()} (the 64-byte submission queue entry) and, for a command that moves data, {@link #data()},
 * then hands the request to {@link FabricsQueue#submit}. From then on the core owns it until it calls
 * {@link #complete()}, exactly once, from any thread. After that the transport encodes the answer
 * (C2H data when {@link #dataDirection()} is {@link #DIR_C2H} and the status is success, then the CQE)
 * and releases or recycles the request.
 *
 * <p>Data contract:
 * <ul>
 *   <li>H2C (host to controller): {@code data} holds exactly {@code dataLength} readable bytes.</li>
 *   <li>C2H (controller to host): {@code data} has capacity of at least {@code dataLength} and writerIndex 0;
 *       on success the core has written exactly {@code dataLength} bytes (writerIndex == dataLength).</li>
 *   <li>No data: {@code data} is null and {@code dataLength} is 0.</li>
 * </ul>
 * Requests are pooled by the transport and reused; {@link #reset} clears them between uses.
 */
public final class NvmeRequest {
    public static final int SQE_SIZE = 64;
    public static final int DIR_NONE = 0;
    public static final int DIR_H2C = 1;
    public static final int DIR_C2H = 2;

    private final ByteBuf sqe;
    private ByteBuf data;
    private int dataLength;
    private int dataDirection;

    private QueueTransport transport;
    /** Opaque slot for the transport's own per-request state (e.g. its pool index or a PDU state). */
    public Object transportContext;
    /** Opaque slot for the core (the executing command's state); the core clears it before completing. */
    public Object coreContext;

    // Completion queue entry fields, set by the core.
    private int result0;
    private int result1;
    private int status;
    private int sqHead;
    private int sqId;

    public NvmeRequest() {
        this(Unpooled.directBuffer(SQE_SIZE, SQE_SIZE));
    }

    public NvmeRequest(ByteBuf sqeBuffer) {
        if (sqeBuffer.capacity() < SQE_SIZE) {
            throw new IllegalArgumentException("an SQE buffer holds at least 64 bytes");
        }
        this.sqe = sqeBuffer;
    }

    /** Prepares the request for a new command from {@code transport}. The SQE is then written by the caller. */
    public NvmeRequest reset(QueueTransport transport) {
        this.transport = transport;
        this.data = null;
        this.dataLength = 0;
        this.dataDirection = DIR_NONE;
        this.result0 = 0;
        this.result1 = 0;
        this.status = 0;
        this.sqHead = 0;
        this.sqId = 0;
        this.coreContext = null;
        sqe.clear();
        return this;
    }

    /** The 64-byte submission queue entry; fixed, index 0..63, read with absolute getters (little-endian). */
    public ByteBuf sqe() { return sqe; }

    public int opcode() { return sqe.getUnsignedByte(0); }
    /** FUSE bits of CDW0 (bits 9:8): 0 normal, 1 first of a fused pair, 2 second. */
    public int fuse() { return sqe.getUnsignedByte(1) & 0x3; }
    public int cid() { return sqe.getUnsignedShortLE(2); }
    public int nsid() { return sqe.getIntLE(4); }
    /** Command dword N (0..15), little-endian. */
    public int cdw(int n) { return sqe.getIntLE(n * 4); }

    public ByteBuf data() { return data; }
    public int dataLength() { return dataLength; }
    public int dataDirection() { return dataDirection; }

    /** Attaches the command's data buffer; see the class comment for what each direction means. */
    public void setData(ByteBuf data, int length, int direction) {
        this.data = data;
        this.dataLength = length;
        this.dataDirection = direction;
    }

    public QueueTransport transport() { return transport; }

    public int result0() { return result0; }
    public int result1() { return result1; }
    /** The 15-bit status field of CQE DW3 bits 31:17: DNR(14) M(13) CRD(12:11) SCT(10:8) SC(7:0). */
    public int status() { return status; }
    public int sqHead() { return sqHead; }
    public int sqId() { return sqId; }

    public void setResult(int dw0) { this.result0 = dw0; }
    public void setResult(int dw0, int dw1) { this.result0 = dw0; this.result1 = dw1; }
    public void setStatus(int statusField) { this.status = statusField; }
    public void setQueueFields(int sqHead, int sqId) { this.sqHead = sqHead; this.sqId = sqId; }
    public boolean succeeded() { return (status & 0x7ff) == 0; }

    /** Hands the finished request back to its transport; call exactly once, from any thread. */
    public void complete() {
        coreContext = null;
        transport.complete(this);
    }

    /** Releases the SQE buffer; for the transport when it discards the request for good. */
    public void releaseSqe() {
        sqe.release();
    }
}
