package io.vvolgate.gateway.fabrics;

/**
 * The transport's side of one NVMe-oF queue (one NVMe/TCP connection, one FC-NVMe association queue).
 * The core calls it; each method may be called from any thread, and the implementation hands the work
 * to the thread that owns the connection.
 */
public interface QueueTransport {

    /**
     * The core finished {@code request}: send its C2H data (if any, and if it succeeded) and its CQE.
     * Called for every request the core accepted, also after {@link #close} or after the connection
     * dropped; then the transport only releases the request's buffers.
     */
    void complete(NvmeRequest request);

    /**
     * Tears the connection down (keep-alive expiry, controller reset or shutdown, subsystem removal).
     * Requests the core still holds are completed later through {@link #complete}.
     */
    void close(String reason);

    /** Where the host reached us: the port this queue arrived on. */
    Port port();

    /** The peer address as text, for logs ("10.0.2.15:41234"). */
    String remoteAddress();

    /** Largest in-capsule data this transport accepts on an I/O queue, in bytes (IOCCSZ is 64 + this, in 16-byte units). */
    int inCapsuleDataSize();

    /** Largest data transfer of one command, in bytes (a power of two times 4096; MDTS is derived from it). */
    int maxDataTransferSize();
}
