package io.vvolgate.gateway.fabrics;

/** Where transports hand new queues: the NVMe-oF target. */
public interface QueueAcceptor {

    /** A transport connection is ready for commands; returns the core's side of the queue. Any thread. */
    FabricsQueue accept(QueueTransport transport);
}
