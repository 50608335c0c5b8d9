/**
 * NVMe/TCP transport (NVMe/TCP Transport Specification 1.0, NVMe Base 2.0): PDU layouts, the frame decoder,
 * the per-connection state machine that turns PDUs into {@link io.vvolgate.gateway.fabrics.NvmeRequest}s,
 * and the listener.
 *
 * <p>Layers, each its own class: {@link io.vvolgate.gateway.transport.tcp.TcpPduDecoder} (frames PDUs from the
 * byte stream and checks the common header) → {@link io.vvolgate.gateway.transport.tcp.TcpConnection} (ICReq/ICResp,
 * digests, R2T/H2CData, C2HData/CapsuleResp, termination; the {@code QueueTransport} the core talks to) →
 * {@link io.vvolgate.gateway.fabrics.FabricsQueue} (the core). {@link io.vvolgate.gateway.transport.tcp.TcpTransport}
 * owns the event loops and listeners.
 *
 * <p>All multi-byte PDU fields are little-endian.
 */
package io.vvolgate.gateway.transport.tcp;
