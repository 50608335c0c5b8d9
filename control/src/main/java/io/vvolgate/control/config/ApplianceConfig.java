package io.vvolgate.control.config;

import java.nio.file.Path;
import java.util.List;

/**
 * A validated appliance configuration: what {@code serve} starts. Made only by {@link ConfigParser}, which
 * checks every rule written down in {@code control/CONFIG.md}; paths are absolute and normalised.
 *
 * @param source     where it came from, as shown in messages ({@code vvolgate.toml}, {@code default.toml (built in)})
 * @param stateDir   where identities and relative file images live
 * @param ioThreads  data-plane I/O threads
 */
public record ApplianceConfig(String source, Path stateDir, int ioThreads, List<Listener> listeners,
                              List<Subsystem> subsystems) {

    public ApplianceConfig {
        listeners = List.copyOf(listeners);
        subsystems = List.copyOf(subsystems);
    }

    /** An NVMe/TCP listener; {@code port} 0 takes any free port. */
    public record Listener(String address, int port, boolean discovery) {
    }

    /** An NVM subsystem; {@code hosts} are the host NQNs allowed when {@code allowAnyHost} is false. */
    public record Subsystem(String nqn, boolean allowAnyHost, List<String> hosts, String model,
                            List<Namespace> namespaces) {
        public Subsystem {
            hosts = List.copyOf(hosts);
            namespaces = List.copyOf(namespaces);
        }
    }

    public enum Backend {
        FILE, MEMORY;

        /** The spelling used in config and identity files. */
        public String key() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * A namespace of a subsystem.
     *
     * @param path absolute image or block-device path for {@link Backend#FILE}; null for memory
     */
    public record Namespace(int nsid, Backend backend, Path path, long size, int blockSize, int anaGroup) {
    }
}
