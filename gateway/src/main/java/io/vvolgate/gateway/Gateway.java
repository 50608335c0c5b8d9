package io.vvolgate.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.FileDevices;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.device.MirroredDevice;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.Subsystem;
import io.vvolgate.gateway.fabrics.Target;
import io.vvolgate.gateway.transport.tcp.TcpTransport;
import io.vvolgate.gateway.transport.tcp.TcpTransportOptions;
import io.vvolgate.gateway.volume.Container;
import io.vvolgate.gateway.volume.Superblock;
import io.vvolgate.gateway.volume.VirtualVolume;
import io.vvolgate.gateway.volume.VolumeException;
import io.vvolgate.gateway.volume.VolumeType;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The gateway's admin API: the one door through which the control plane starts, inspects and stops the
 * data plane. Nothing outside the gateway module reaches past it.
 *
 * <p>It owns the storage containers of the spec and their devices: {@link #start} opens (or, on a blank
 * device, formats) each container before any namespace exists, and {@link #close} commits and closes
 * them after the last command has finished, then closes their devices.
 *
 * <p>Thread: start and close from one thread (the control plane's); {@link #listeners()} and
 * {@link #containers()} from any.
 */
public final class Gateway implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("vvolgate.gateway");
    /** How long shutdown waits for commands already accepted to finish. */
    private static final long DRAIN_TIMEOUT_NANOS = 30_000_000_000L;

    /** A listener as bound: {@code port} is the real one, also when the spec asked for port 0. */
    public record BoundListener(String address, int port, boolean discovery) {
    }

    /**
     * A storage container as {@link #start} found it.
     *
     * @param name           its name in the spec
     * @param id             the container's UUID (from its superblock)
     * @param formatted      true if start formatted it (the device was blank); false if it was recovered
     * @param recoveryMillis how long opening took (superblock, checkpoint, log replay); 0 when formatted
     * @param volumes        volumes and snapshots it held when opened, before start created any
     * @param deviceSize     bytes of its device as opened (an existing image keeps its size)
     */
    public record ContainerStatus(String name, UUID id, boolean formatted, long recoveryMillis, int volumes, long deviceSize) {
    }

    /** A container and the devices under it, which it does not close itself. */
    private record OpenContainer(Container container, List<BlockDevice> devices, ContainerStatus status,
                                 GatewaySpec.ContainerSpec spec, MirroredDevice mirror) {
    }

    private final Target target;
    private final TcpTransport tcp;
    private final List<BlockDevice> devices;
    private final List<OpenContainer> containers;
    private final List<BoundListener> listeners;
    /** Which namespaces export each volume, keyed "container/volume". */
    private final Map<String, List<Export>> exports = new java.util.concurrent.ConcurrentHashMap<>();

    private record Export(Subsystem subsystem, int nsid) {
    }
    /** Where throttled commands of every volume wait for their turn (QoS). */
    private final java.util.concurrent.ScheduledExecutorService qosScheduler;
    /** The metered (and QoS-limited) device in front of each exported volume, by volume UUID. */
    private final Map<UUID, io.vvolgate.gateway.device.MeteredDevice> metered;
    /** QoS limits set for volumes, applied when they are exported: {IOPS, bytes per second}, 0 = none. */
    private final Map<UUID, long[]> qosLimits = new java.util.concurrent.ConcurrentHashMap<>();
    /** The namespace each bindable volume is exported as in its container's protocol endpoint, by volume UUID. */
    private final Map<UUID, Export> bindExports = new java.util.concurrent.ConcurrentHashMap<>();
    private boolean closed;

    private Gateway(Target target, TcpTransport tcp, List<BlockDevice> devices, List<OpenContainer> containers,
                    List<BoundListener> listeners, java.util.concurrent.ScheduledExecutorService qosScheduler,
                    Map<UUID, io.vvolgate.gateway.device.MeteredDevice> metered) {
        this.qosScheduler = qosScheduler;
        this.metered = metered;
        this.target = target;
        this.tcp = tcp;
        this.devices = devices;
        this.containers = List.copyOf(containers);
        this.listeners = List.copyOf(listeners);
    }

    /** Starts subsystems, namespaces and listeners; throws {@link GatewayException} with a plain message if it cannot. */
    public static Gateway start(GatewaySpec spec) {
        List<BlockDevice> devices = new ArrayList<>();
        List<OpenContainer> containers = new ArrayList<>();
        Map<String, List<Export>> exported = new HashMap<>();
        Target target = new Target(spec.ioThreads());
        TcpTransport tcp = null;
        java.util.concurrent.ScheduledExecutorService qos = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vvolgate-qos");
            t.setDaemon(true);
            return t;
        });
        Map<UUID, io.vvolgate.gateway.device.MeteredDevice> meteredDevices = new java.util.concurrent.ConcurrentHashMap<>();
        try {
            Map<String, Container> byName = new HashMap<>();
            for (GatewaySpec.ContainerSpec c : spec.containers()) {
                OpenContainer open = openContainer(c);
                containers.add(open);
                byName.put(c.name(), open.container());
            }
            for (GatewaySpec.SubsystemSpec s : spec.subsystems()) {
                Subsystem subsystem = target.addSubsystem(s.nqn(), s.serial(), s.model(), s.allowAnyHost(), s.hosts());
                for (GatewaySpec.NamespaceSpec n : s.namespaces()) {
                    if (n.device() instanceof GatewaySpec.VolumeDevice v) {
                        Container container = byName.get(v.container());
                        VirtualVolume volume = findOrCreateVolume(container, v, n, s.nqn());
                        // The volume's identity, not the spec's: it follows the volume wherever it is exported.
                        target.addNamespace(subsystem, n.nsid(), meter(meteredDevices, qos, container, volume, null), n.blockSize(),
                                volume.nguid(), volume.uuid(), n.anaGroup());
                        exported.computeIfAbsent(v.container() + "/" + v.volume(), k -> new ArrayList<>())
                                .add(new Export(subsystem, n.nsid()));
                        continue;
                    }
                    BlockDevice device = openDevice(n);
                    devices.add(device);
                    target.addNamespace(subsystem, n.nsid(), device, n.blockSize(), n.nguid(), n.uuid(), n.anaGroup());
                }
            }
            Map<UUID, Export> restored = new HashMap<>();
            for (GatewaySpec.BindingSpec b : spec.bindings()) {
                OpenContainer open = containers.stream().filter(c -> c.status().name().equals(b.container())).findFirst().orElseThrow();
                VirtualVolume volume = open.container().volumes().stream().filter(v -> v.uuid().equals(b.volume())).findFirst().orElse(null);
                if (volume == null) {
                    LOG.log(System.Logger.Level.WARNING, "binding of volume {0} in container {1} dropped: the volume is gone",
                            b.volume(), b.container());
                    continue;
                }
                Subsystem pe = target.subsystem(open.spec().peNqn());
                int nsid = pe.namespace(b.nsid()) == null ? b.nsid() : 0; // taken by the config: a new NSID
                var ns = target.addHiddenNamespace(pe, nsid, meter(meteredDevices, qos, open.container(), volume, null),
                        volume.blockSize(), volume.nguid(), volume.uuid(), open.spec().peAnaGroup());
                for (String host : b.hosts()) {
                    target.grant(pe, ns.nsid(), host);
                }
                restored.put(volume.uuid(), new Export(pe, ns.nsid()));
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
            Gateway gateway = new Gateway(target, tcp, devices, containers, bound, qos, meteredDevices);
            gateway.exports.putAll(exported);
            gateway.bindExports.putAll(restored);
            return gateway;
        } catch (GatewayException e) {
            abandon(target, tcp, devices, containers);
            qos.shutdownNow();
            throw e;
        } catch (IllegalArgumentException | VolumeException e) {
            abandon(target, tcp, devices, containers);
            qos.shutdownNow();
            throw new GatewayException(e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            abandon(target, tcp, devices, containers);
            qos.shutdownNow();
            throw e;
        }
    }

    /**
     * The device a namespace exports a volume through: the volume's device behind a {@link
     * io.vvolgate.gateway.device.MeteredDevice} (its counters, latency histograms and QoS limits), one per
     * volume whatever the number of namespaces.
     */
    private static io.vvolgate.gateway.device.MeteredDevice meter(Map<UUID, io.vvolgate.gateway.device.MeteredDevice> metered,
                                                                  java.util.concurrent.ScheduledExecutorService scheduler,
                                                                  Container container, VirtualVolume volume, long[] limits) {
        return metered.computeIfAbsent(volume.uuid(), id -> {
            var m = new io.vvolgate.gateway.device.MeteredDevice(container.device(volume.id()), scheduler);
            if (limits != null) {
                m.setLimits(limits[0], limits[1]);
            }
            return m;
        });
    }

    /**
     * Opens the container on {@code spec}'s device (or mirrored pair): recovered if it holds one, formatted
     * if it is blank. A device that holds something else, or a container that cannot be read, is refused
     * rather than formatted: formatting would destroy whatever is there. On failure nothing stays open.
     */
    private static OpenContainer openContainer(GatewaySpec.ContainerSpec spec) {
        String what = "container " + spec.name();
        List<Path> paths = spec.devices();
        long[] sizes = new long[paths.size()];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = existingSize(spec, paths.get(i));
        }
        // A missing leg of a pair is created at its partner's size (a replacement), unless the spec gives one.
        long fallback = spec.size() != 0 ? spec.size() : java.util.Arrays.stream(sizes).max().orElse(0);
        List<BlockDevice> opened = new ArrayList<>(); // closed in this order: the mirror before its legs
        try {
            List<BlockDevice> legs = new ArrayList<>();
            for (int i = 0; i < sizes.length; i++) {
                Path path = paths.get(i);
                long size = sizes[i] > 0 ? sizes[i] : fallback;
                if (size == 0) {
                    throw new GatewayException(what + ": image " + path + " does not exist and no size is given to create it");
                }
                try {
                    legs.add(FileDevices.open(path, size, 512));
                } catch (IOException | IllegalArgumentException e) {
                    throw new GatewayException("cannot open " + path + " for " + what + ": " + reason(e), e);
                }
                opened.add(legs.getLast());
            }
            BlockDevice device = legs.getFirst();
            MirroredDevice mirror = null;
            if (legs.size() == 2) {
                try {
                    mirror = MirroredDevice.open(legs.get(0), legs.get(1));
                } catch (RuntimeException e) {
                    throw new GatewayException("cannot open the mirrored pair " + paths.get(0) + ", " + paths.get(1) + " of "
                            + what + ": " + reason(e), e);
                }
                opened.addFirst(mirror);
                device = mirror;
            }
            String on = paths.size() == 1 ? paths.getFirst().toString() : paths.get(0) + " + " + paths.get(1);
            Container container;
            ContainerStatus status;
            if (isBlank(device, what, on)) {
                try {
                    container = Container.format(device, UUID.randomUUID(), spec.clusterSize());
                } catch (IllegalArgumentException | VolumeException e) {
                    throw new GatewayException("cannot format " + what + " on " + on + ": " + reason(e), e);
                }
                status = new ContainerStatus(spec.name(), container.id(), true, 0, 0, legs.getFirst().size());
                LOG.log(System.Logger.Level.INFO, "{0} {1} formatted on {2} ({3} bytes, {4}-byte clusters)",
                        what, container.id(), on, device.size(), container.clusterSize());
            } else {
                try {
                    container = Container.open(device);
                } catch (IllegalArgumentException | VolumeException e) {
                    throw new GatewayException("cannot open " + what + " on " + on + ": " + reason(e)
                            + " (the device is not blank, so it is not formatted; check it with: vvolgate fsck "
                            + String.join(" ", paths.stream().map(Path::toString).toList()) + ")", e);
                }
                status = new ContainerStatus(spec.name(), container.id(), false, container.recoveryMillis(),
                        container.volumes().size(), legs.getFirst().size());
                LOG.log(System.Logger.Level.INFO, "{0} {1} on {2} recovered in {3} ms ({4} volumes)",
                        what, container.id(), on, container.recoveryMillis(), status.volumes());
            }
            if (mirror != null && mirror.state() == MirroredDevice.State.DEGRADED) {
                // Both legs are configured and present: the stale one (a replacement, or one that failed
                // before the restart) is copied from the survivor online.
                LOG.log(System.Logger.Level.WARNING, "{0}: mirror degraded ({1}); resyncing the stale leg online", what, mirror);
                mirror.resync();
            }
            return new OpenContainer(container, List.copyOf(opened), status, spec, mirror);
        } catch (RuntimeException | Error e) {
            for (BlockDevice d : opened) {
                d.close();
            }
            throw e;
        }
    }

    /** Bytes an existing image or block device holds; 0 if it is missing or empty. */
    private static long existingSize(GatewaySpec.ContainerSpec spec, Path path) {
        try {
            if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
                return Files.size(path);
            }
            if (!Files.exists(path)) {
                return 0;
            }
            long size;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                size = ch.size(); // a block device's capacity (BLKGETSIZE64)
            }
            if (size == 0 && spec.size() == 0) {
                throw new GatewayException("container " + spec.name() + ": cannot tell the size of " + path + "; give its size");
            }
            return size;
        } catch (IOException e) {
            throw new GatewayException("cannot open " + path + " for container " + spec.name() + ": " + reason(e), e);
        }
    }

    /** Nothing but zeroes where the two superblock copies go: a new device (a new mirror reads as zeroes too). */
    private static boolean isBlank(BlockDevice device, String what, String on) {
        int length = 2 * Superblock.SIZE;
        ByteBuf head = Unpooled.buffer(length);
        CompletableFuture<Integer> done = new CompletableFuture<>();
        device.read(0, length, head, done, (f, errno) -> f.complete(errno));
        int errno;
        try {
            errno = done.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GatewayException("interrupted while reading " + on + " for " + what, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new GatewayException("cannot read " + on + " for " + what + ": " + reason(e), e);
        }
        if (errno != IoCompletion.OK) {
            throw new GatewayException("cannot read " + on + " for " + what + " (errno " + errno + ")");
        }
        for (int i = 0; i < length; i++) {
            if (head.getByte(i) != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The volume {@code n} exports: the one of that name, grown to the spec's size if smaller, or a new
     * thin one with the spec's identity.
     */
    private static VirtualVolume findOrCreateVolume(Container container, GatewaySpec.VolumeDevice v,
                                                    GatewaySpec.NamespaceSpec n, String nqn) {
        String what = "volume \"" + v.volume() + "\" of container " + v.container();
        List<VirtualVolume> named = container.volumes().stream().filter(x -> x.name().equals(v.volume())).toList();
        if (named.size() > 1) {
            throw new NamespaceConflictException(nqn, n.nsid(), "container " + v.container() + " holds " + named.size()
                    + " volumes named \"" + v.volume() + "\"; the namespace cannot tell which to export");
        }
        if (named.isEmpty() && (v.snapshotOf() != null || v.cloneOf() != null)) {
            return createDerived(container, v, n, nqn, what);
        }
        if (named.isEmpty()) {
            VirtualVolume created = container.createVolume(v.volume(), VolumeType.DATA, v.size(), v.blockSize(), n.nguid(), n.uuid());
            LOG.log(System.Logger.Level.INFO, "{0} created: {1} bytes, {2}-byte blocks", what, v.size(), v.blockSize());
            return created;
        }
        VirtualVolume volume = named.getFirst();
        if (v.snapshotOf() != null && !volume.readOnly()) {
            throw new NamespaceConflictException(nqn, n.nsid(), what + " exists and is not a snapshot, but the namespace says snapshot_of \""
                    + v.snapshotOf() + "\"");
        }
        if (volume.blockSize() != v.blockSize()) {
            throw new NamespaceConflictException(nqn, n.nsid(), what + " has " + volume.blockSize()
                    + "-byte blocks, not " + v.blockSize() + " (a volume's block size cannot change)");
        }
        long size = volume.size();
        if (v.size() < size) {
            throw new NamespaceConflictException(nqn, n.nsid(), what + " holds " + size + " bytes; size " + v.size()
                    + " would shrink it, which is refused because it would lose data (give at least " + size + ")");
        }
        if (v.size() > size) {
            if (volume.readOnly()) {
                throw new NamespaceConflictException(nqn, n.nsid(), what + " is a snapshot of " + size
                        + " bytes; it cannot grow to " + v.size());
            }
            container.resizeVolume(volume.id(), v.size());
            LOG.log(System.Logger.Level.INFO, "{0} grown from {1} to {2} bytes", what, size, v.size());
        }
        return volume;
    }

    /** A snapshot of a volume, or a linked clone of a snapshot, named by the namespace and taken now. */
    private static VirtualVolume createDerived(Container container, GatewaySpec.VolumeDevice v, GatewaySpec.NamespaceSpec n,
                                               String nqn, String what) {
        String sourceName = v.snapshotOf() != null ? v.snapshotOf() : v.cloneOf();
        List<VirtualVolume> sources = container.volumes().stream().filter(x -> x.name().equals(sourceName)).toList();
        if (sources.size() != 1) {
            throw new NamespaceConflictException(nqn, n.nsid(), what + " is to be made from \"" + sourceName + "\", but container "
                    + v.container() + " holds " + (sources.isEmpty() ? "no volume" : sources.size() + " volumes") + " of that name");
        }
        VirtualVolume source = sources.getFirst();
        if (source.blockSize() != v.blockSize() || source.size() != v.size()) {
            throw new NamespaceConflictException(nqn, n.nsid(), what + " must have the size and block size of \"" + sourceName
                    + "\" (" + source.size() + " bytes, " + source.blockSize() + "-byte blocks)");
        }
        VirtualVolume created;
        if (v.snapshotOf() != null) {
            created = container.snapshot(source.id(), v.volume(), n.nguid(), n.uuid());
            LOG.log(System.Logger.Level.INFO, "{0} created: a snapshot of {1}", what, sourceName);
        } else {
            if (!source.readOnly()) {
                throw new NamespaceConflictException(nqn, n.nsid(), what + " is to be a clone of \"" + sourceName
                        + "\", which is not a snapshot (clone from a snapshot)");
            }
            created = container.cloneLinked(source.id(), v.volume(), n.nguid(), n.uuid());
            LOG.log(System.Logger.Level.INFO, "{0} created: a linked clone of {1}", what, sourceName);
        }
        return created;
    }

    private static BlockDevice openDevice(GatewaySpec.NamespaceSpec n) {
        return switch (n.device()) {
            case GatewaySpec.MemoryDevice m -> new MemoryBlockDevice(m.size(), n.blockSize());
            case GatewaySpec.FileDevice f -> {
                try {
                    yield FileDevices.open(f.path(), f.size(), n.blockSize());
                } catch (IOException e) {
                    throw new GatewayException("cannot open " + f.path() + " for namespace " + n.nsid() + ": " + reason(e), e);
                }
            }
            case GatewaySpec.VolumeDevice v -> throw new IllegalStateException("volumes are exported by start itself");
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

    private static void abandon(Target target, TcpTransport tcp, List<BlockDevice> devices, List<OpenContainer> containers) {
        if (tcp != null) {
            tcp.close();
        }
        target.close();
        for (BlockDevice d : devices) {
            d.close();
        }
        closeContainers(containers);
    }

    /** Each container commits and stops, then its devices close; one failing does not keep the others open. */
    private static void closeContainers(List<OpenContainer> containers) {
        for (OpenContainer c : containers) {
            try {
                c.container().close();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "container " + c.status().name() + " did not close cleanly: " + reason(e));
            } finally {
                for (BlockDevice d : c.devices()) {
                    d.close();
                }
            }
        }
    }

    public List<BoundListener> listeners() {
        return listeners;
    }

    /** The storage containers, in spec order, as start opened them. */
    public List<ContainerStatus> containers() {
        return containers.stream().map(OpenContainer::status).toList();
    }

    /**
     * Grows a volume while it is served: the container records the new size, and every namespace that
     * exports the volume takes it and tells its hosts (Namespace Attribute Changed). Shrinking is refused.
     */
    public void resizeVolume(String containerName, String volumeName, long newSize) {
        OpenContainer open = containers.stream().filter(c -> c.status().name().equals(containerName)).findFirst()
                .orElseThrow(() -> new GatewayException("no container named " + containerName));
        Container container = open.container();
        List<VirtualVolume> named = container.volumes().stream().filter(v -> v.name().equals(volumeName)).toList();
        if (named.size() != 1) {
            throw new GatewayException("container " + containerName + " holds " + named.size() + " volumes named \"" + volumeName + "\"");
        }
        try {
            container.resizeVolume(named.getFirst().id(), newSize);
        } catch (VolumeException e) {
            throw new GatewayException(e.getMessage(), e);
        }
        for (Export e : exports.getOrDefault(containerName + "/" + volumeName, List.of())) {
            target.namespaceResized(e.subsystem(), e.nsid());
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Volumes (the control plane's operations). Serialised on this object: they are rare, and each is one
    // metadata record of the container (durable before the call returns).

    /** Clusters of a volume as a bitmap: bit i is the cluster at byte i * clusterSize. */
    public record ClusterBitmap(int clusterSize, long clusters, java.util.BitSet bits) {
    }

    /** Space of a container, with the bytes only snapshots hold. */
    public record SpaceInfo(long capacity, long used, long free, long provisioned, long snapshotBytes, long reserved,
                            long volumes, long snapshots) {
    }

    private OpenContainer open(String containerName) {
        for (OpenContainer c : containers) {
            if (c.status().name().equals(containerName)) {
                return c;
            }
        }
        throw new AdminException(AdminException.Kind.NOT_FOUND, "there is no storage container named \"" + containerName + "\"");
    }

    private static VirtualVolume find(OpenContainer c, UUID id) {
        for (VirtualVolume v : c.container().volumes()) {
            if (v.uuid().equals(id)) {
                return v;
            }
        }
        throw new AdminException(AdminException.Kind.NOT_FOUND, "container " + c.status().name() + " has no virtual volume " + id);
    }

    private static void checkNameFree(OpenContainer c, String name) {
        if (name == null || name.isBlank()) {
            throw new AdminException(AdminException.Kind.INVALID, "a virtual volume needs a name");
        }
        for (VirtualVolume v : c.container().volumes()) {
            if (v.name().equals(name)) {
                throw new AdminException(AdminException.Kind.CONFLICT, "container " + c.status().name()
                        + " already has a virtual volume named \"" + name + "\"");
            }
        }
    }

    private VolumeInfo info(OpenContainer c, VirtualVolume v) {
        Container container = c.container();
        UUID parent = null;
        if (v.parentId() != 0) {
            try {
                parent = container.volume(v.parentId()).uuid();
            } catch (VolumeException gone) {
                parent = null; // the parent was deleted; its clusters live on in this volume
            }
        }
        int configNsid = 0;
        for (Export e : exports.getOrDefault(c.status().name() + "/" + v.name(), List.of())) {
            configNsid = e.nsid();
        }
        Export bound = bindExports.get(v.uuid());
        java.util.Set<String> hosts = java.util.Set.of();
        if (bound != null) {
            var ns = bound.subsystem().namespace(bound.nsid());
            if (ns != null && ns.visibleHosts() != null) {
                hosts = ns.visibleHosts();
            }
        }
        Double progress = container.copying(v.id()) ? container.copyProgress(v.id()) : null;
        return new VolumeInfo(c.status().name(), v.uuid(), v.name(), v.type(), v.size(), v.blockSize(), v.thick(), v.readOnly(),
                parent, container.allocatedBytes(v.id()), progress, v.metadataView(), v.nguid(), configNsid,
                bound == null ? 0 : bound.nsid(), hosts);
    }

    /** The volumes and snapshots of a container, in creation order. */
    public synchronized List<VolumeInfo> volumes(String containerName) {
        OpenContainer c = open(containerName);
        List<VolumeInfo> out = new ArrayList<>();
        for (VirtualVolume v : c.container().volumes()) {
            out.add(info(c, v));
        }
        return out;
    }

    public synchronized VolumeInfo volume(String containerName, UUID id) {
        OpenContainer c = open(containerName);
        return info(c, find(c, id));
    }

    /** Creates a volume (thick: its whole size reserved now) with a new NGUID and UUID. */
    public synchronized VolumeInfo createVolume(String containerName, String name, VolumeType type, long size, int blockSize,
                                                boolean thick, Map<String, String> metadata) {
        OpenContainer c = open(containerName);
        checkNameFree(c, name);
        if (blockSize != 512 && blockSize != 4096) {
            throw new AdminException(AdminException.Kind.INVALID, "the LBA size must be 512 or 4096 bytes, not " + blockSize);
        }
        if (size <= 0 || size % blockSize != 0) {
            throw new AdminException(AdminException.Kind.INVALID, "a volume's size must be a positive multiple of its "
                    + blockSize + "-byte LBA size; " + size + " is not");
        }
        Container.Space space = c.container().space();
        if (thick && size > space.free() - space.reserved()) {
            throw new AdminException(AdminException.Kind.NO_SPACE, "a thick volume of " + size + " bytes needs that much free space; container "
                    + containerName + " has " + Math.max(0, space.free() - space.reserved()) + " bytes free and unreserved");
        }
        UUID uuid = UUID.randomUUID();
        VirtualVolume v = mapped(() -> c.container().createVolume(name, type, size, blockSize, nguidOf(uuid), uuid, thick));
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            c.container().setMetadata(v.id(), e.getKey(), e.getValue());
        }
        return info(c, v);
    }

    /** An NGUID from a UUID: unique with it, and stable because the volume keeps both. */
    private static byte[] nguidOf(UUID uuid) {
        return java.nio.ByteBuffer.allocate(16).putLong(uuid.getMostSignificantBits()).putLong(uuid.getLeastSignificantBits()).array();
    }

    /**
     * Deletes a volume, snapshot or clone. Refused while the configuration exports it or a host is bound
     * to it; an unbound binding namespace goes with it.
     */
    public synchronized void deleteVolume(String containerName, UUID id) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        if (!exports.getOrDefault(containerName + "/" + v.name(), List.of()).isEmpty()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "virtual volume \"" + v.name()
                    + "\" is exported by the configuration file; remove its namespace there first");
        }
        Export bound = bindExports.get(id);
        if (bound != null) {
            var ns = bound.subsystem().namespace(bound.nsid());
            if (ns != null && ns.visibleHosts() != null && !ns.visibleHosts().isEmpty()) {
                throw new AdminException(AdminException.Kind.CONFLICT, "virtual volume \"" + v.name() + "\" is bound to "
                        + ns.visibleHosts().size() + " host(s); unbind it first");
            }
            target.removeNamespace(bound.subsystem(), bound.nsid());
            bindExports.remove(id);
        }
        metered.remove(id);
        qosLimits.remove(id);
        mapped(() -> {
            c.container().deleteVolume(v.id());
            return null;
        });
    }

    /** Grows a volume online; every namespace exporting it takes the size and tells its hosts. */
    public synchronized VolumeInfo resizeVolume(String containerName, UUID id, long newSize) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        if (v.readOnly()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "\"" + v.name() + "\" is a snapshot; snapshots cannot be resized");
        }
        if (newSize < v.size()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "shrinking \"" + v.name() + "\" from " + v.size() + " to " + newSize
                    + " bytes is refused: the blocks past the new end would be lost");
        }
        if (newSize % v.blockSize() != 0) {
            throw new AdminException(AdminException.Kind.INVALID, "the new size " + newSize + " is not a multiple of the LBA size "
                    + v.blockSize());
        }
        Container.Space space = c.container().space();
        if (v.thick() && newSize - v.size() > space.free() - space.reserved()) {
            throw new AdminException(AdminException.Kind.NO_SPACE, "growing thick volume \"" + v.name() + "\" by " + (newSize - v.size())
                    + " bytes needs that much free space; container " + containerName + " has " + Math.max(0, space.free() - space.reserved()));
        }
        mapped(() -> {
            c.container().resizeVolume(v.id(), newSize);
            return null;
        });
        for (Export e : exports.getOrDefault(containerName + "/" + v.name(), List.of())) {
            target.namespaceResized(e.subsystem(), e.nsid());
        }
        Export bound = bindExports.get(id);
        if (bound != null) {
            target.namespaceResized(bound.subsystem(), bound.nsid());
        }
        return info(c, v);
    }

    /** A point-in-time, read-only snapshot of a volume (O(1)). */
    public synchronized VolumeInfo snapshotVolume(String containerName, UUID id, String name) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        checkNameFree(c, name);
        UUID uuid = UUID.randomUUID();
        return info(c, mapped(() -> c.container().snapshot(v.id(), name, nguidOf(uuid), uuid)));
    }

    /** A writable clone of a snapshot: linked (O(1)), or full (a background copy; see {@link #copyDone}). */
    public synchronized VolumeInfo cloneVolume(String containerName, UUID snapshotId, String name, boolean full) {
        OpenContainer c = open(containerName);
        VirtualVolume s = find(c, snapshotId);
        if (!s.readOnly()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "\"" + s.name() + "\" is not a snapshot; clone from a snapshot");
        }
        checkNameFree(c, name);
        UUID uuid = UUID.randomUUID();
        VirtualVolume clone = mapped(() -> full ? c.container().cloneFull(s.id(), name, nguidOf(uuid), uuid)
                : c.container().cloneLinked(s.id(), name, nguidOf(uuid), uuid));
        return info(c, clone);
    }

    /** Completes when a full clone's copy is done (at once if none runs). */
    public synchronized CompletableFuture<Void> copyDone(String containerName, UUID id) {
        OpenContainer c = open(containerName);
        return c.container().copyDone(find(c, id).id());
    }

    /** 0..1: how far a full clone's copy is (1 when none runs). */
    public synchronized double copyProgress(String containerName, UUID id) {
        OpenContainer c = open(containerName);
        return c.container().copyProgress(find(c, id).id());
    }

    /** Makes a volume's contents those of one of its snapshots; hosts bound to it see the data change. */
    public synchronized VolumeInfo revertVolume(String containerName, UUID id, UUID snapshotId) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        VirtualVolume s = find(c, snapshotId);
        if (v.readOnly()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "\"" + v.name() + "\" is a snapshot; only a writable volume can be reverted");
        }
        if (!s.readOnly() || s.parentId() != v.id()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "\"" + s.name() + "\" is not a snapshot of \"" + v.name() + "\"");
        }
        if (s.size() != v.size()) {
            throw new AdminException(AdminException.Kind.CONFLICT, "snapshot \"" + s.name() + "\" has " + s.size() + " bytes and \""
                    + v.name() + "\" now " + v.size() + "; a volume grown since its snapshot cannot be reverted to it");
        }
        mapped(() -> {
            c.container().revert(v.id(), s.id());
            return null;
        });
        return info(c, v);
    }

    /** Sets metadata key-values; a null value removes the key. */
    public synchronized VolumeInfo updateMetadata(String containerName, UUID id, Map<String, String> changes) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        for (Map.Entry<String, String> e : changes.entrySet()) {
            if (e.getKey() == null || e.getKey().isEmpty()) {
                throw new AdminException(AdminException.Kind.INVALID, "a metadata key cannot be empty");
            }
        }
        for (Map.Entry<String, String> e : changes.entrySet()) {
            mapped(() -> {
                c.container().setMetadata(v.id(), e.getKey(), e.getValue());
                return null;
            });
        }
        return info(c, v);
    }

    /** One bit per cluster: set where the volume holds data. */
    public synchronized ClusterBitmap allocatedBitmap(String containerName, UUID id) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        int cs = c.container().clusterSize();
        return new ClusterBitmap(cs, (v.size() + cs - 1) / cs, c.container().allocatedBitmap(v.id()));
    }

    /** One bit per cluster: set where the volume differs from {@code baseId}, one of its snapshots. */
    public synchronized ClusterBitmap unsharedBitmap(String containerName, UUID id, UUID baseId) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        VirtualVolume base = find(c, baseId);
        if (!base.readOnly() || (base.parentId() != v.id() && v.parentId() != base.id())) {
            throw new AdminException(AdminException.Kind.CONFLICT, "\"" + base.name() + "\" is not a snapshot of \"" + v.name()
                    + "\" (nor the snapshot it was cloned from)");
        }
        int cs = c.container().clusterSize();
        return new ClusterBitmap(cs, (v.size() + cs - 1) / cs, c.container().unsharedBitmap(v.id(), base.id()));
    }

    public synchronized SpaceInfo space(String containerName) {
        OpenContainer c = open(containerName);
        Container.Space s = c.container().space();
        return new SpaceInfo(s.capacity(), s.used(), s.free(), s.provisioned(), c.container().snapshotBytes(), s.reserved(),
                s.volumes(), s.snapshots());
    }

    /** Runs an engine call, turning its refusals into admin refusals. */
    private static <T> T mapped(java.util.function.Supplier<T> call) {
        try {
            return call.get();
        } catch (VolumeException e) {
            String m = e.getMessage() == null ? "the volume engine refused" : e.getMessage();
            AdminException.Kind kind = m.contains("free") || m.contains("space") ? AdminException.Kind.NO_SPACE : AdminException.Kind.CONFLICT;
            throw new AdminException(kind, m);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Protocol endpoints, hosts and binding

    /** The protocol endpoint of each container that has one, in spec order. */
    public List<ProtocolEndpointInfo> protocolEndpoints() {
        List<ProtocolEndpointInfo> out = new ArrayList<>();
        for (OpenContainer c : containers) {
            if (c.spec().peNqn() == null) {
                continue;
            }
            Subsystem s = target.subsystem(c.spec().peNqn());
            int group = c.spec().peAnaGroup();
            var ana = target.anaGroup(group);
            int namespaces = (int) s.namespaces().stream().filter(ns -> ns.anaGroup().id() == group).count();
            List<BoundListener> ioListeners = listeners.stream().filter(l -> !l.discovery()).toList();
            out.add(new ProtocolEndpointInfo(c.status().name(), s.nqn(), group,
                    ana == null ? io.vvolgate.gateway.nvme.LogPages.ANA_STATE_OPTIMIZED : ana.state(), ioListeners, namespaces));
        }
        return out;
    }

    /** Lets a host connect to every protocol endpoint subsystem that does not admit any host anyway. */
    public synchronized void allowHost(String hostNqn) {
        for (OpenContainer c : containers) {
            Subsystem s = c.spec().peNqn() == null ? null : target.subsystem(c.spec().peNqn());
            if (s != null && !s.allowsAnyHost()) {
                s.allowHost(hostNqn);
            }
        }
    }

    /** Stops admitting a host to the protocol endpoint subsystems (unless configured there). */
    public synchronized void disallowHost(String hostNqn, java.util.Set<String> configured) {
        for (OpenContainer c : containers) {
            Subsystem s = c.spec().peNqn() == null ? null : target.subsystem(c.spec().peNqn());
            if (s != null && !configured.contains(hostNqn)) {
                s.disallowHost(hostNqn);
            }
        }
    }

    /**
     * Makes a volume visible to a host through its container's protocol endpoint (VASA bind): exported as
     * a namespace on first bind, then shown to that host's controllers with the notices a host acts on.
     * Idempotent. Returns the NSID. A volume the configuration exports is visible to every admitted host
     * already; its NSID is returned as it is.
     */
    public synchronized int bind(String containerName, UUID id, String hostNqn) {
        OpenContainer c = open(containerName);
        VirtualVolume v = find(c, id);
        if (c.spec().peNqn() == null) {
            throw new AdminException(AdminException.Kind.CONFLICT, "container " + containerName + " has no protocol endpoint");
        }
        Subsystem pe = target.subsystem(c.spec().peNqn());
        for (Export e : exports.getOrDefault(containerName + "/" + v.name(), List.of())) {
            if (e.subsystem() == pe) {
                return e.nsid();
            }
        }
        Export bound = bindExports.get(id);
        if (bound == null) {
            var ns = target.addHiddenNamespace(pe, 0, meter(metered, qosScheduler, c.container(), v, qosLimits.get(id)),
                    v.blockSize(), v.nguid(), v.uuid(), c.spec().peAnaGroup());
            bound = new Export(pe, ns.nsid());
            bindExports.put(id, bound);
        }
        if (!pe.allowsHost(hostNqn)) {
            pe.allowHost(hostNqn);
        }
        target.grant(pe, bound.nsid(), hostNqn);
        return bound.nsid();
    }

    /** Hides a volume from a host again (VASA unbind); I/O from it then fails with Invalid Namespace. */
    public synchronized void unbind(String containerName, UUID id, String hostNqn) {
        OpenContainer c = open(containerName);
        find(c, id);
        Export bound = bindExports.get(id);
        if (bound != null) {
            target.revoke(bound.subsystem(), bound.nsid(), hostNqn);
        }
    }

    /** The devices under every container, with their health. */
    public List<DeviceInfo> devices() {
        List<DeviceInfo> out = new ArrayList<>();
        for (OpenContainer c : containers) {
            List<Path> paths = c.spec().devices();
            MirroredDevice m = c.mirror();
            if (m == null) {
                out.add(new DeviceInfo(c.status().name(), paths.getFirst(), -1, "ok", c.status().deviceSize(), null));
                continue;
            }
            MirroredDevice.State state = m.state();
            for (int leg = 0; leg < paths.size(); leg++) {
                MirroredDevice.LegState ls = m.legState(leg);
                String health = switch (ls) {
                    case IN_SYNC -> state == MirroredDevice.State.FAILED ? "failed" : "in_sync";
                    case STALE -> m.failedLeg() == leg ? "failed" : "stale";
                    case RESYNCING -> "resyncing";
                };
                Double progress = ls == MirroredDevice.LegState.RESYNCING ? m.resyncProgress().fraction() : null;
                out.add(new DeviceInfo(c.status().name(), paths.get(leg), leg, health, c.status().deviceSize(), progress));
            }
        }
        return out;
    }

    /**
     * Limits a volume's commands per second and bytes per second (0: no limit), enforced in the data path
     * from now on (commands over the limit wait their turn; none is refused) and whenever it is exported.
     */
    public void setQos(String containerName, UUID id, long iops, long bytesPerSecond) {
        if (iops < 0 || bytesPerSecond < 0) {
            throw new AdminException(AdminException.Kind.INVALID, "QoS limits cannot be negative");
        }
        synchronized (this) {
            find(open(containerName), id);
        }
        qosLimits.put(id, new long[] {iops, bytesPerSecond});
        var m = metered.get(id);
        if (m != null) {
            m.setLimits(iops, bytesPerSecond);
        }
    }

    /** The data-path figures of each exported volume (cumulative), with its container and protocol endpoint group. */
    public record VolumeStats(String container, UUID volume, int anaGroup, io.vvolgate.gateway.device.MeteredDevice.Stats stats) {
    }

    public List<VolumeStats> volumeStats() {
        List<VolumeStats> out = new ArrayList<>();
        for (OpenContainer c : containers) {
            for (VirtualVolume v : c.container().volumes()) {
                var m = metered.get(v.uuid());
                if (m == null) {
                    continue;
                }
                // The ANA group of the namespace exporting it (its protocol endpoint when bound).
                Export b = bindExports.get(v.uuid());
                int group = b != null ? c.spec().peAnaGroup() : 0;
                for (Export e : exports.getOrDefault(c.status().name() + "/" + v.name(), List.of())) {
                    var ns = e.subsystem().namespace(e.nsid());
                    if (ns != null) {
                        group = ns.anaGroup().id();
                    }
                }
                out.add(new VolumeStats(c.status().name(), v.uuid(), group, m.snapshot()));
            }
        }
        return out;
    }

    /** A host's controller: who is connected where. */
    public record Connection(String hostNqn, String subsystemNqn, int cntlid) {
    }

    /** The controllers hosts have now on NVM subsystems (discovery controllers left out). */
    public List<Connection> connections() {
        List<Connection> out = new ArrayList<>();
        for (var c : target.controllers()) {
            if (!c.subsystem().isDiscovery()) {
                out.add(new Connection(c.hostNqn(), c.subsystem().nqn(), c.cntlid()));
            }
        }
        return out;
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
        qosScheduler.shutdownNow();
        closeContainers(containers); // commits the metadata log before the devices under it close
        for (BlockDevice d : devices) {
            d.close(); // syncs what the page cache still holds
        }
    }
}
