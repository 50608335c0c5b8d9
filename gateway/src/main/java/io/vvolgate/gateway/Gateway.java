package io.vvolgate.gateway;

import java.util.List;

/**
 * The gateway's admin API: the one door through which the control plane starts, inspects and stops the
 * data plane. Nothing outside the gateway module reaches past it.
 */
public final class Gateway implements AutoCloseable {

    /** A listener as bound: {@code port} is the real one, also when the spec asked for port 0. */
    public record BoundListener(String address, int port, boolean discovery) {
    }

    /** Starts subsystems, namespaces and listeners; throws {@link GatewayException} with a plain message if it cannot. */
    public static Gateway start(GatewaySpec spec) {
        throw new GatewayException("gateway not wired yet");
    }

    public List<BoundListener> listeners() {
        return List.of();
    }

    /**
     * Shuts down cleanly: stops accepting connections and reading new commands, lets in-flight commands
     * finish (up to a bound), flushes and closes the devices, then closes the connections.
     */
    @Override
    public void close() {
    }
}
