package io.vvolgate.gateway.fabrics;

/**
 * A fabric port: one listener of one transport. Discovery log entries describe ports.
 *
 * @param portId      the NVMe-oF port ID (PORTID in the discovery log), unique in the target
 * @param transport   transport type as in the discovery log TRTYPE (3 = TCP, 2 = FC)
 * @param address     transport address as text (TRADDR), e.g. "127.0.0.1"
 * @param service     transport service ID as text (TRSVCID), e.g. "4420"
 * @param discovery   true for a discovery-only port (the well-known 8009), false for an I/O port
 */
public record Port(int portId, int transport, String address, String service, boolean discovery) {
    public static final int TRTYPE_FC = 2;
    public static final int TRTYPE_TCP = 3;

    /** Address family (ADRFAM) for the discovery log: 1 IPv4, 2 IPv6, 4 FC. */
    public int addressFamily() {
        if (transport == TRTYPE_FC) {
            return 4;
        }
        return address.indexOf(':') >= 0 ? 2 : 1;
    }
}
