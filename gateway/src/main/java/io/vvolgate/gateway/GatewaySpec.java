package io.vvolgate.gateway;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * Everything the gateway needs to start: the admin API's description of subsystems, namespaces and
 * listeners. The control plane builds one (from a config file, later from the VASA service) and hands it
 * to {@link Gateway#start}. Validation of the values happens in the constructors, so a spec that exists
 * is well-formed.
 */
public record GatewaySpec(List<SubsystemSpec> subsystems, List<ListenerSpec> listeners, int ioThreads) {

    public GatewaySpec {
        subsystems = List.copyOf(subsystems);
        listeners = List.copyOf(listeners);
        if (ioThreads < 1) {
            throw new IllegalArgumentException("ioThreads must be at least 1, not " + ioThreads);
        }
    }

    /** One NVM subsystem. {@code hosts} are the host NQNs allowed when {@code allowAnyHost} is false. */
    public record SubsystemSpec(String nqn, String serial, String model, boolean allowAnyHost,
                                List<String> hosts, List<NamespaceSpec> namespaces) {
        public SubsystemSpec {
            Objects.requireNonNull(nqn, "nqn");
            Objects.requireNonNull(serial, "serial");
            Objects.requireNonNull(model, "model");
            hosts = List.copyOf(hosts);
            namespaces = List.copyOf(namespaces);
        }
    }

    /**
     * One namespace of a subsystem.
     *
     * @param nsid      namespace ID, 1..0xFFFFFFFE, unique in its subsystem
     * @param device    the backing device
     * @param blockSize the LBA size the host sees: 512 or 4096
     * @param nguid     16 bytes, stable for the life of the namespace
     * @param uuid      stable for the life of the namespace
     * @param anaGroup  ANA group ID (1..)
     */
    public record NamespaceSpec(int nsid, DeviceSpec device, int blockSize, byte[] nguid, UUID uuid, int anaGroup) {
        public NamespaceSpec {
            Objects.requireNonNull(device, "device");
            Objects.requireNonNull(uuid, "uuid");
            if (nguid == null || nguid.length != 16) {
                throw new IllegalArgumentException("an NGUID has 16 bytes");
            }
            nguid = nguid.clone();
        }

        @Override
        public byte[] nguid() {
            return nguid.clone();
        }
    }

    /** Where a namespace keeps its blocks. */
    public sealed interface DeviceSpec permits MemoryDevice, FileDevice {
        long size();
    }

    /** Volatile memory of {@code size} bytes: gone when the process stops. */
    public record MemoryDevice(long size) implements DeviceSpec {
    }

    /** A regular file (created sparse at {@code size} bytes if missing) or a block device. */
    public record FileDevice(Path path, long size) implements DeviceSpec {
    }

    /** One NVMe/TCP listener; {@code port} 0 takes any free port. */
    public record ListenerSpec(String address, int port, boolean discovery) {
    }
}
