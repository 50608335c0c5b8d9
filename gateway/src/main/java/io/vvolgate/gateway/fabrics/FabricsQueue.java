package io.vvolgate.gateway.fabrics;

/**
 * The core's side of one NVMe-oF queue, given to a transport by {@link QueueAcceptor#accept} when the
 * transport's connection is ready for commands (for NVMe/TCP: after ICReq/ICResp). The first command on
 * it must be a Fabrics Connect; that binds the queue to a controller (admin queue, QID 0) or to an
 * existing controller's I/O queue.
 *
 * <p>Thread: {@link #submit} and {@link #transportClosed} are called only by the connection's own thread.
 */
public interface FabricsQueue {

    /** Executes one command. The core answers through {@link NvmeRequest#complete()}, maybe on another thread. */
    void submit(NvmeRequest request);

    /**
     * The connection is gone (closed by either side). The core drops the queue; the requests it holds are
     * still completed through the transport, which then only releases them.
     */
    void transportClosed();

    /** True once a Connect asked to disable SQ flow control (CATTR bit 2); C2HData may then carry SUCCESS. */
    boolean sqFlowControlDisabled();

    /** Queue ID from the Connect (0 for admin), or -1 before Connect. */
    int queueId();
}
