package io.vvolgate.gateway;

import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.FileBlockDevice;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.Subsystem;
import io.vvolgate.gateway.fabrics.Target;
import io.vvolgate.gateway.transport.tcp.TcpTransport;
import io.vvolgate.gateway.transport.tcp.TcpTransportOptions;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The gateway's admin API: the one door through which the control plane starts, inspects and stops the
 * data plane. Nothing outside the gateway module reaches past it.
 *
 * <p>Thread: start and close from one thread (the control plane's); {@link #listeners()} from any.
 */
public final class Gateway implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("vvolgate.gateway");
    /** How long shutdown waits for commands already accepted to finish. */
    private static final long DRAIN_TIMEOUT_NANOS = 30_000_000_000L;

    /** A listener as bound: {@code port} is the real one, also when the spec asked for port 0. */
    public record BoundListener(String address, int port, boolean discovery) {
    }

    private final Target target;
    private final TcpTransport tcp;
    private final List<BlockDevice> devices;
    private final List<BoundListener> listeners;
    private boolean closed;

    private Gateway(Target target, TcpTransport tcp, List<BlockDevice> devices, List<BoundListener> listeners) {
        this.target = target;
        this.tcp = tcp;
        this.devices = devices;
        this.listeners = List.copyOf(listeners);
    }

    /** Starts subsystems, namespaces and listeners; throws {@link GatewayException} with a plain message if it cannot. */
    public static Gateway start(GatewaySpec spec) {
        List<BlockDevice> devices = new ArrayList<>();
        Target target = new Target(spec.ioThreads());
        TcpTransport tcp = null;
        try {
            for (GatewaySpec.SubsystemSpec s : spec.subsystems()) {
                Subsystem subsystem = target.addSubsystem(s.nqn(), s.serial(), s.model(), s.allowAnyHost(), s.hosts());
                for (GatewaySpec.NamespaceSpec n : s.namespaces()) {
                    BlockDevice device = openDevice(n);
                    devices.add(device);
                    target.addNamespace(subsystem, n.nsid(), device, n.blockSize(), n.nguid(), n.uuid(), n.anaGroup());
                }
            }
            tcp = new TcpTransport(target, spec.ioThreads(), TcpTransportOptions.defaults());
            List<BoundListener> bound = new ArrayList<>();
            int portId = 1;
            for (GatewaySpec.ListenerSpec l : spec.listeners()) {
                Port port;
                try {
                    port = tcp.listen(portId++, l.address(), l.port(), l.discovery());
                } catch (RuntimeException e) {
                    throw new GatewayException("cannot listen on " + l.address() + ":" + l.port() + ": " + reason(e), e);
                }
                target.addPort(port);
                bound.add(new BoundListener(port.address(), Integer.parseInt(port.service()), port.discovery()));
            }
            return new Gateway(target, tcp, devices, bound);
        } catch (GatewayException e) {
            abandon(target, tcp, devices);
            throw e;
        } catch (IllegalArgumentException e) {
            abandon(target, tcp, devices);
            throw new GatewayException(e.getMessage(), e);
        }
    }

    private static BlockDevice openDevice(GatewaySpec.NamespaceSpec n) {
        return switch (n.device()) {
            case GatewaySpec.MemoryDevice m -> new MemoryBlockDevice(m.size(), n.blockSize());
            case GatewaySpec.FileDevice f -> {
                try {
                    yield FileBlockDevice.open(f.path(), f.size(), n.blockSize());
                } catch (IOException e) {
                    throw new GatewayException("cannot open " + f.path() + " for namespace " + n.nsid() + ": " + reason(e), e);
                }
            }
        };
    }

    private static String reason(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        return message == null ? root.getClass().getSimpleName() : message;
    }

    private static void abandon(Target target, TcpTransport tcp, List<BlockDevice> devices) {
        if (tcp != null) {
            tcp.close();
        }
        target.close();
        for (BlockDevice d : devices) {
            d.close();
        }
    }

    public List<BoundListener> listeners() {
        return listeners;
    }

    /** Controllers hosts currently have (all subsystems, discovery included). */
    public int controllerCount() {
        return target.controllers().size();
    }

    /**
     * Shuts down cleanly: stops accepting connections and reading new commands, lets in-flight commands
     * finish (up to a bound), flushes and closes the devices, then closes the connections.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        tcp.stopAccepting();
        tcp.quiesce();
        target.abortAsyncEventRequests();
        long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
        while (tcp.inFlight() > 0 && System.nanoTime() < deadline) {
            // Shutdown only: the transport offers no completion signal for "all drained", and this runs once.
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (tcp.inFlight() > 0) {
            LOG.log(System.Logger.Level.WARNING, tcp.inFlight() + " commands still in flight after 30 s; closing anyway");
        }
        tcp.closeConnections();
        target.close();
        tcp.close();
        for (BlockDevice d : devices) {
            d.close(); // syncs what the page cache still holds
        }
    }
}
