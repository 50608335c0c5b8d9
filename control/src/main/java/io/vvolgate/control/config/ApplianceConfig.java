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
 * @param containers storage containers, in file order
 * @param fileIo     how file namespaces and container devices do I/O: {@code io_uring} or {@code blocking}
 * @param api        where the REST API, the console and {@code /metrics} listen
 * @param ioPoll     the NVMe/TCP event loops poll their sockets (a core each, all the time) instead of sleeping
 */
public record ApplianceConfig(String source, Path stateDir, int ioThreads, List<Listener> listeners,
                              List<Container> containers, List<Subsystem> subsystems, String fileIo, Api api,
                              boolean ioPoll) {

    /** The default API listener: loopback, port 8080, plain HTTP. */
    public static final Api DEFAULT_API = new Api("127.0.0.1", 8080, null, null, 0);

    /** A configuration with the default API listener. */
    public ApplianceConfig(String source, Path stateDir, int ioThreads, List<Listener> listeners, List<Container> containers,
                           List<Subsystem> subsystems, String fileIo) {
        this(source, stateDir, ioThreads, listeners, containers, subsystems, fileIo, DEFAULT_API, false);
    }

    /**
     * Where the REST API, the web console and {@code /metrics} listen.
     *
     * @param address  IP address; anything but loopback is served over TLS only
     * @param port     TCP port; 0 takes any free port
     * @param tlsCert  PEM certificate chain, or null: one is generated (self-signed) when TLS is needed
     * @param tlsKey   PEM private key of {@code tlsCert}
     * @param line     line of the {@code [api]} table, 0 if absent
     */
    public record Api(String address, int port, Path tlsCert, Path tlsKey, int line) {
        public boolean loopback() {
            try {
                return java.net.InetAddress.ofLiteral(address).isLoopbackAddress();
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
    }

    public ApplianceConfig {
        listeners = List.copyOf(listeners);
        containers = List.copyOf(containers);
        subsystems = List.copyOf(subsystems);
    }

    /** A configuration with the default file I/O backend (io_uring). */
    public ApplianceConfig(String source, Path stateDir, int ioThreads, List<Listener> listeners,
                           List<Container> containers, List<Subsystem> subsystems) {
        this(source, stateDir, ioThreads, listeners, containers, subsystems, "io_uring");
    }

    /** A configuration without storage containers. */
    public ApplianceConfig(String source, Path stateDir, int ioThreads, List<Listener> listeners, List<Subsystem> subsystems) {
        this(source, stateDir, ioThreads, listeners, List.of(), subsystems);
    }

    /**
     * A storage container: a pool of space on its device(s) from which volume namespaces are carved.
     *
     * @param name        unique; what {@code container = "..."} of a namespace refers to
     * @param devices     absolute image or block-device paths: one, or two for a mirrored pair
     * @param size        bytes of an image created at start; 0 when not given (the image must then exist)
     * @param clusterSize allocation unit when the container is formatted
     * @param line        line of its {@code [[container]]} header, for messages found only at start
     */
    public record Container(String name, List<Path> devices, long size, int clusterSize, int line, String subsystem,
                            int anaGroup, long qosIopsCapacity) {
        /** The protocol endpoint subsystem a container gets when the file names none. */
        public static String defaultSubsystem(String name) {
            return "nqn.2026-11.io.vvolgate:" + name;
        }

        /** IOPS a container promises to split among reservations when the file says nothing. */
        public static final long DEFAULT_QOS_IOPS_CAPACITY = 50_000;

        public Container(String name, List<Path> devices, long size, int clusterSize, int line) {
            this(name, devices, size, clusterSize, line, defaultSubsystem(name), 1, DEFAULT_QOS_IOPS_CAPACITY);
        }

        public Container {
            devices = List.copyOf(devices);
        }
    }

    /**
     * Which volume a {@link Backend#VOLUME} namespace exports.
     *
     * @param container the container's name
     * @param name      the volume's name in it
     * @param line      line of the namespace's {@code [[subsystem.namespace]]} header
     * @param sizeLine  line of its {@code size} key (a size smaller than the volume is refused there)
     * @param snapshotOf if set: a missing volume is created as a snapshot of the volume of this name
     * @param cloneOf    if set: a missing volume is created as a linked clone of the snapshot of this name
     */
    public record VolumeRef(String container, String name, int line, int sizeLine, String snapshotOf, String cloneOf) {
        public VolumeRef(String container, String name, int line, int sizeLine) {
            this(container, name, line, sizeLine, null, null);
        }
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
        FILE, MEMORY, VOLUME;

        /** The spelling used in config and identity files. */
        public String key() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * A namespace of a subsystem.
     *
     * @param path   absolute image or block-device path for {@link Backend#FILE}; null otherwise
     * @param volume the volume exported for {@link Backend#VOLUME}; null otherwise
     */
    public record Namespace(int nsid, Backend backend, Path path, long size, int blockSize, int anaGroup, VolumeRef volume) {

        /** A file or memory namespace. */
        public Namespace(int nsid, Backend backend, Path path, long size, int blockSize, int anaGroup) {
            this(nsid, backend, path, size, blockSize, anaGroup, null);
        }
    }
}
