package io.vvolgate.gateway;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;

/**
 * Everything the gateway needs to start: the admin API's description of storage containers, subsystems,
 * namespaces and listeners. The control plane builds one (from a config file, later from the VASA service)
 * and hands it to {@link Gateway#start}. Validation of the values happens in the constructors, so a spec
 * that exists is well-formed: container names are unique, every volume namespace names a container of the
 * spec, and no volume is exported twice.
 */
public record GatewaySpec(List<ContainerSpec> containers, List<SubsystemSpec> subsystems, List<ListenerSpec> listeners,
                          int ioThreads, List<BindingSpec> bindings) {

    public static final int MIN_CLUSTER_SIZE = 4096;
    public static final int MAX_CLUSTER_SIZE = 8 << 20;
    /**
     * 64 KiB, the unit of allocation and copy-on-write (the same default as Linux's dm-thin). The first 4 KiB
     * write to a cluster after a snapshot costs about 4-6x a plain overwrite at 64 KiB (a new cluster, 60 KiB
     * copied, a MAP record in the next commit), against 2-3x at 4 KiB and 10-30x at 256 KiB-1 MiB
     * (BENCHMARKS.md, "The first write after a snapshot"); a scattered 4 KiB write after a snapshot costs 64 KiB
     * of snapshot space. Smaller clusters make the maps, the reference counts and the MAP records per GiB
     * written 16x larger (a 1 TiB volume fully mapped: 16 M clusters at 64 KiB, 256 M at 4 KiB), and split
     * the guest's larger writes into more allocations. 64 KiB keeps both costs moderate for VM disks, whose
     * writes are mostly 4-64 KiB.
     */
    public static final int DEFAULT_CLUSTER_SIZE = 64 << 10;

    public GatewaySpec {
        bindings = List.copyOf(bindings);
        containers = List.copyOf(containers);
        subsystems = List.copyOf(subsystems);
        listeners = List.copyOf(listeners);
        if (ioThreads < 1) {
            throw new IllegalArgumentException("ioThreads must be at least 1, not " + ioThreads);
        }
        Set<String> names = new HashSet<>();
        Set<Path> paths = new HashSet<>();
        for (ContainerSpec c : containers) {
            if (!names.add(c.name())) {
                throw new IllegalArgumentException("container " + c.name() + " is specified twice");
            }
            for (Path p : c.devices()) {
                if (!paths.add(p)) {
                    throw new IllegalArgumentException(p + " is a device of two containers (or twice of one)");
                }
            }
        }
        Map<String, String> exported = new HashMap<>();
        for (SubsystemSpec s : subsystems) {
            for (NamespaceSpec n : s.namespaces()) {
                if (n.device() instanceof VolumeDevice v) {
                    if (!names.contains(v.container())) {
                        throw new IllegalArgumentException("namespace " + n.nsid() + " of " + s.nqn()
                                + " names container " + v.container() + ", which the spec does not have");
                    }
                    String previous = exported.putIfAbsent(v.container() + "\0" + v.volume(), "namespace " + n.nsid() + " of " + s.nqn());
                    if (previous != null) {
                        throw new IllegalArgumentException("volume " + v.volume() + " of container " + v.container()
                                + " is exported twice: by " + previous + " and by namespace " + n.nsid() + " of " + s.nqn());
                    }
                } else if (n.device() instanceof FileDevice f && paths.contains(f.path())) {
                    throw new IllegalArgumentException("namespace " + n.nsid() + " of " + s.nqn() + " uses " + f.path()
                            + ", a device of a container");
                }
            }
        }
        checkProtocolEndpoints(containers, subsystems, bindings);
    }

    private static void checkProtocolEndpoints(List<ContainerSpec> containers, List<SubsystemSpec> subsystems,
                                               List<BindingSpec> bindings) {
        Set<String> nqns = new HashSet<>();
        for (SubsystemSpec s : subsystems) {
            nqns.add(s.nqn());
        }
        Map<String, ContainerSpec> byName = new HashMap<>();
        for (ContainerSpec c : containers) {
            byName.put(c.name(), c);
            if (c.peNqn() != null && !nqns.contains(c.peNqn())) {
                throw new IllegalArgumentException("container " + c.name() + " binds through subsystem " + c.peNqn()
                        + ", which the spec does not have");
            }
        }
        for (BindingSpec b : bindings) {
            ContainerSpec c = byName.get(b.container());
            if (c == null || c.peNqn() == null) {
                throw new IllegalArgumentException("binding of volume " + b.volume() + " names container " + b.container()
                        + ", which " + (c == null ? "the spec does not have" : "has no protocol endpoint"));
            }
        }
    }

    /** A spec without bindings. */
    public GatewaySpec(List<ContainerSpec> containers, List<SubsystemSpec> subsystems, List<ListenerSpec> listeners, int ioThreads) {
        this(containers, subsystems, listeners, ioThreads, List.of());
    }

    /** A spec without storage containers. */
    public GatewaySpec(List<SubsystemSpec> subsystems, List<ListenerSpec> listeners, int ioThreads) {
        this(List.of(), subsystems, listeners, ioThreads);
    }

    /**
     * A volume bound to hosts, restored at start before any listener opens, so a host that reconnects
     * after a restart finds its namespaces where they were.
     *
     * @param container the container's name
     * @param volume    the volume's UUID
     * @param nsid      the NSID it had in the container's protocol endpoint subsystem
     * @param hosts     host NQNs that see it
     */
    public record BindingSpec(String container, UUID volume, int nsid, List<String> hosts) {
        public BindingSpec {
            Objects.requireNonNull(container, "container");
            Objects.requireNonNull(volume, "volume");
            hosts = List.copyOf(hosts);
            if (nsid < 1) {
                throw new IllegalArgumentException("binding of " + volume + " needs an NSID, not " + nsid);
            }
        }
    }

    /**
     * A storage container (see {@code volume.Container}): opened if its device holds one, formatted if the
     * device is blank (a new image, or zeroes where the superblocks go), refused otherwise.
     *
     * @param name        how namespaces refer to it; unique in the spec
     * @param devices     image files or block devices: one, or two for a mirrored pair
     * @param size        bytes of an image file created now; 0 = none given (an existing image or a block
     *                    device keeps the size it has)
     * @param clusterSize allocation unit when the container is formatted now (a power of two, 4 KiB..8 MiB);
     *                    an existing container keeps its own
     * @param peNqn       the subsystem (of the spec) whose namespaces the container's volumes are bound
     *                    through, or null: its volumes can then not be bound
     * @param peAnaGroup  the ANA group of those namespaces: the protocol endpoint
     */
    public record ContainerSpec(String name, List<Path> devices, long size, int clusterSize, String peNqn, int peAnaGroup) {
        public ContainerSpec(String name, List<Path> devices, long size, int clusterSize) {
            this(name, devices, size, clusterSize, null, 1);
        }

        public ContainerSpec {
            if (peAnaGroup < 1) {
                throw new IllegalArgumentException("container " + name + " ANA group " + peAnaGroup + " is not 1 or more");
            }
            Objects.requireNonNull(name, "name");
            if (name.isBlank()) {
                throw new IllegalArgumentException("a container needs a name");
            }
            devices = List.copyOf(devices);
            if (devices.isEmpty() || devices.size() > 2) {
                throw new IllegalArgumentException("container " + name + " needs one device, or two for a mirrored pair, not "
                        + devices.size());
            }
            if (devices.size() == 2 && devices.get(0).equals(devices.get(1))) {
                throw new IllegalArgumentException("container " + name + " names " + devices.get(0) + " twice");
            }
            if (size < 0) {
                throw new IllegalArgumentException("container " + name + " size " + size + " is negative");
            }
            if (clusterSize < MIN_CLUSTER_SIZE || clusterSize > MAX_CLUSTER_SIZE || Integer.bitCount(clusterSize) != 1) {
                throw new IllegalArgumentException("container " + name + " cluster size " + clusterSize
                        + " is not a power of two from 4 KiB to 8 MiB");
            }
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
            if (device instanceof VolumeDevice v && v.blockSize() != blockSize) {
                throw new IllegalArgumentException("namespace " + nsid + " has block size " + blockSize
                        + " but its volume spec says " + v.blockSize());
            }
        }

        @Override
        public byte[] nguid() {
            return nguid.clone();
        }
    }

    /** Where a namespace keeps its blocks. */
    public sealed interface DeviceSpec permits MemoryDevice, FileDevice, VolumeDevice {
        long size();
    }

    /** Volatile memory of {@code size} bytes: gone when the process stops. */
    public record MemoryDevice(long size) implements DeviceSpec {
    }

    /** A regular file (created sparse at {@code size} bytes if missing) or a block device. */
    public record FileDevice(Path path, long size) implements DeviceSpec {
    }

    /**
     * A virtual volume of a container of the spec. The namespace exports the volume with the volume's own
     * NGUID and UUID; the namespace spec's identity is given to the volume only when it is created now.
     *
     * @param container the {@link ContainerSpec#name()} of its container
     * @param volume    the volume's name in the container; created thin if the container has none of that name
     * @param size      bytes: the size of a volume created now; an existing volume smaller than this is grown,
     *                  one larger is refused (shrinking loses data)
     * @param blockSize the LBA size; an existing volume must have it
     * @param snapshotOf if not null and the volume does not exist yet: create it as a read-only snapshot of
     *                   the volume of this name (taken when the gateway starts)
     * @param cloneOf    if not null and the volume does not exist yet: create it as a writable linked clone of
     *                   the snapshot of this name
     */
    public record VolumeDevice(String container, String volume, long size, int blockSize, String snapshotOf, String cloneOf)
            implements DeviceSpec {
        public VolumeDevice(String container, String volume, long size, int blockSize) {
            this(container, volume, size, blockSize, null, null);
        }

        public VolumeDevice {
            if (snapshotOf != null && cloneOf != null) {
                throw new IllegalArgumentException("volume " + volume + " cannot be both a snapshot and a clone");
            }
            Objects.requireNonNull(container, "container");
            Objects.requireNonNull(volume, "volume");
            if (blockSize != 512 && blockSize != 4096) {
                throw new IllegalArgumentException("volume " + volume + " block size " + blockSize + " is not 512 or 4096");
            }
            if (size <= 0 || size % blockSize != 0) {
                throw new IllegalArgumentException("volume " + volume + " size " + size + " is not a positive multiple of " + blockSize);
            }
        }
    }

    /** One NVMe/TCP listener; {@code port} 0 takes any free port. */
    public record ListenerSpec(String address, int port, boolean discovery) {
    }
}
