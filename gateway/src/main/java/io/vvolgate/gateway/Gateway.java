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
    private record OpenContainer(Container container, List<BlockDevice> devices, ContainerStatus status) {
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
    private boolean closed;

    private Gateway(Target target, TcpTransport tcp, List<BlockDevice> devices, List<OpenContainer> containers,
                    List<BoundListener> listeners) {
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
                        target.addNamespace(subsystem, n.nsid(), container.device(volume.id()), n.blockSize(),
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
            Gateway gateway = new Gateway(target, tcp, devices, containers, bound);
            gateway.exports.putAll(exported);
            return gateway;
        } catch (GatewayException e) {
            abandon(target, tcp, devices, containers);
            throw e;
        } catch (IllegalArgumentException | VolumeException e) {
            abandon(target, tcp, devices, containers);
            throw new GatewayException(e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            abandon(target, tcp, devices, containers);
            throw e;
        }
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
                            + " (the device is not blank, so it is not formatted; check it with: vvolgate fsck " + paths.getFirst() + ")", e);
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
            return new OpenContainer(container, List.copyOf(opened), status);
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
        closeContainers(containers); // commits the metadata log before the devices under it close
        for (BlockDevice d : devices) {
            d.close(); // syncs what the page cache still holds
        }
    }
}
