package io.vvolgate.gateway;

import java.util.List;

/**
 * A virtual protocol endpoint: an ANA group of a container's subsystem, reached through every NVMe/TCP
 * I/O listener. Bound volumes are namespaces of that subsystem in that group.
 *
 * @param container    the container's name
 * @param subsystemNqn the subsystem hosts connect to
 * @param anaGroup     the ANA group ID
 * @param anaState     1 optimized, 2 non-optimized, 3 inaccessible, 4 persistent loss, 15 change
 * @param listeners    the I/O listeners (address, port)
 * @param namespaces   namespaces of the subsystem in that group
 */
public record ProtocolEndpointInfo(String container, String subsystemNqn, int anaGroup, int anaState,
                                   List<Gateway.BoundListener> listeners, int namespaces) {
}
