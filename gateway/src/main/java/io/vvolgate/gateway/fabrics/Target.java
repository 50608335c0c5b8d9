package io.vvolgate.gateway.fabrics;

import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.io.IoReactor;
import io.vvolgate.gateway.nvme.AsyncEvents;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Status;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

/**
 * The NVMe-oF target: subsystems (and the discovery subsystem), their namespaces and ANA groups, the
 * fabric ports, the controllers hosts create, the device reactors that run I/O, and the keep-alive timer.
 * Transports hand it new queues through {@link #accept}.
 *
 * <p>Threads: configuration (subsystems, namespaces, ports) comes from the admin API's thread; Connect and
 * teardown from the transports' threads; the keep-alive timer from its own. Shared collections are
 * concurrent; controller IDs are handed out under a lock.
 */
public final class Target implements QueueAcceptor, AutoCloseable {
    public static final String DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery";
    public static final String FIRMWARE_REVISION = "0.1.0";

    /** MQES + 1 and MAXCMD: the deepest I/O queue a host may create. */
    static final int MAX_QUEUE_ENTRIES = 1024;
    static final int MAX_ADMIN_QUEUE_ENTRIES = 128;
    static final int MAX_IO_QUEUES = 64;
    static final int MAX_NAMESPACES = 1024;
    static final int ANA_GROUP_MAX = 128;
    static final int ANA_TRANSITION_SECONDS = 10;
    /** Fused Compare-and-Write is atomic up to this many blocks (ACWU + 1). */
    static final int ATOMIC_COMPARE_WRITE_BLOCKS = 256;
    /** CAP.TO: how long a host should wait for CSTS.RDY, in 500 ms units. */
    static final int CAP_TIMEOUT_HALF_SECONDS = 30;
    static final int KEEP_ALIVE_GRANULARITY_100MS = 10;
    /** Reported as the Keep Alive Timer feature's default. */
    static final int DEFAULT_KATO_MS = 120_000;
    /**
     * The longest keep-alive timeout a host may ask for (Connect or Feature 0Fh), one hour. The spec sets
     * no ceiling, but KATO is how long a dead host's controller, its queues and its CNTLID outlive it; and
     * a value past 2^31 - 1 ms does not fit the signed field that holds it (it would read as "no
     * timeout"). Linux asks for its keep_alive_tmo plus 10 s, 15 s by default.
     */
    static final long MAX_KATO_MS = 3_600_000;
    private static final int RING_SIZE = 16_384;

    private static final System.Logger LOG = System.getLogger("vvolgate.target");

    private final Map<String, Subsystem> subsystems = new ConcurrentHashMap<>();
    private final Subsystem discovery;
    private final CopyOnWriteArrayList<Port> ports = new CopyOnWriteArrayList<>();
    private final Map<Integer, AnaGroup> anaGroups = new ConcurrentHashMap<>();
    private final BitSet controllerIds = new BitSet();
    private final IoReactor[] reactors;
    private final AtomicInteger nextReactor = new AtomicInteger();
    private final AtomicLong discoveryGeneration = new AtomicLong(1);
    private final AtomicLong anaChangeCount = new AtomicLong();
    private final ScheduledExecutorService timer;
    private final long startNanos = System.nanoTime();
    private final AtomicLong keepAliveExpiries = new AtomicLong();

    public Target(int ioThreads) {
        this.discovery = new Subsystem(DISCOVERY_NQN, "discovery", "vvolgate discovery", true, true, List.of());
        this.reactors = new IoReactor[ioThreads];
        for (int i = 0; i < ioThreads; i++) {
            reactors[i] = new IoReactor("vvolgate-io-" + i, RING_SIZE);
        }
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vvolgate-target-timer");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::checkKeepAlive, 100, 100, TimeUnit.MILLISECONDS);
    }

    // --- configuration (admin API) ---

    public Subsystem addSubsystem(String nqn, String serial, String model, boolean allowAnyHost, List<String> hosts) {
        if (nqn.equals(DISCOVERY_NQN)) {
            throw new IllegalArgumentException(nqn + " is the discovery subsystem's NQN");
        }
        Subsystem s = new Subsystem(nqn, serial, model, false, allowAnyHost, hosts);
        if (subsystems.putIfAbsent(nqn, s) != null) {
            throw new IllegalArgumentException("subsystem " + nqn + " exists already");
        }
        discoveryChanged();
        return s;
    }

    /** Adds a namespace and tells the subsystem's controllers (Namespace Attribute Changed, then ANA change). */
    public Namespace addNamespace(Subsystem s, int nsid, BlockDevice device, int blockSize, byte[] nguid, UUID uuid, int anaGroupId) {
        if (anaGroupId < 1 || anaGroupId > ANA_GROUP_MAX) {
            throw new IllegalArgumentException("ANA group must be 1.." + ANA_GROUP_MAX + ", not " + anaGroupId);
        }
        if (Integer.compareUnsigned(nsid, MAX_NAMESPACES) > 0) {
            throw new IllegalArgumentException("NSID must be 1.." + MAX_NAMESPACES + ", not " + Integer.toUnsignedString(nsid));
        }
        AnaGroup group = anaGroups.computeIfAbsent(anaGroupId, AnaGroup::new);
        Namespace ns = new Namespace(nsid, device, blockSize, nguid, uuid, group);
        IoReactor reactor = reactors[Math.floorMod(nextReactor.getAndIncrement(), reactors.length)];
        ns.attach(new NamespaceIo(ns, reactor));
        s.addNamespace(ns);
        anaChangeCount.incrementAndGet();
        for (Controller c : s.controllers()) {
            c.namespaceChanged(nsid);
            c.raiseNotice(AsyncEvents.INFO_ANA_CHANGE, LogPages.ANA, AsyncEvents.CONFIG_ANA_CHANGE);
        }
        return ns;
    }

    /**
     * Exports a namespace that no host sees yet (the control plane binds it to hosts with {@link #grant}).
     * {@code nsid} 0 takes the lowest free NSID. Nobody is told: for every host it is still inactive.
     */
    public Namespace addHiddenNamespace(Subsystem s, int nsid, BlockDevice device, int blockSize, byte[] nguid, UUID uuid,
                                        int anaGroupId) {
        synchronized (s) {
            int id = nsid != 0 ? nsid : s.freeNsid();
            if (anaGroupId < 1 || anaGroupId > ANA_GROUP_MAX) {
                throw new IllegalArgumentException("ANA group must be 1.." + ANA_GROUP_MAX + ", not " + anaGroupId);
            }
            if (Integer.compareUnsigned(id, MAX_NAMESPACES) > 0) {
                throw new IllegalArgumentException("NSID must be 1.." + MAX_NAMESPACES + ", not " + Integer.toUnsignedString(id));
            }
            AnaGroup group = anaGroups.computeIfAbsent(anaGroupId, AnaGroup::new);
            Namespace ns = new Namespace(id, device, blockSize, nguid, uuid, group);
            ns.setVisibleHosts(java.util.Set.of());
            IoReactor reactor = reactors[Math.floorMod(nextReactor.getAndIncrement(), reactors.length)];
            ns.attach(new NamespaceIo(ns, reactor));
            s.addNamespace(ns);
            return ns;
        }
    }

    /**
     * Makes a hidden namespace visible to a host (bind): each of the host's controllers on the subsystem
     * finds it in its active namespace list and Changed Namespace List, gets Namespace Attribute Changed,
     * then an ANA change for the namespace's group. Nothing happens if the host saw it already.
     */
    public boolean grant(Subsystem s, int nsid, String hostNqn) {
        Namespace ns = requireNamespace(s, nsid);
        if (!ns.grant(hostNqn)) {
            return false;
        }
        tellHost(s, nsid, hostNqn);
        return true;
    }

    /** Hides a namespace from a host again (unbind); its controllers are told as for {@link #grant}. */
    public boolean revoke(Subsystem s, int nsid, String hostNqn) {
        Namespace ns = requireNamespace(s, nsid);
        if (!ns.revoke(hostNqn)) {
            return false;
        }
        tellHost(s, nsid, hostNqn);
        return true;
    }

    /**
     * Removes a namespace (its volume goes away): every controller that saw it is told. Commands already
     * running on it finish; new ones get Invalid Namespace. Returns the namespace, or null.
     */
    public Namespace removeNamespace(Subsystem s, int nsid) {
        Namespace ns = s.namespace(nsid);
        if (ns == null || !s.removeNamespace(ns)) {
            return null;
        }
        anaChangeCount.incrementAndGet();
        for (Controller c : s.controllers()) {
            if (ns.visibleTo(c.hostNqn())) {
                c.namespaceChanged(nsid);
                c.raiseNotice(AsyncEvents.INFO_ANA_CHANGE, LogPages.ANA, AsyncEvents.CONFIG_ANA_CHANGE);
            }
        }
        return ns;
    }

    private static Namespace requireNamespace(Subsystem s, int nsid) {
        Namespace ns = s.namespace(nsid);
        if (ns == null) {
            throw new IllegalArgumentException("subsystem " + s.nqn() + " has no namespace " + Integer.toUnsignedString(nsid));
        }
        return ns;
    }

    private void tellHost(Subsystem s, int nsid, String hostNqn) {
        anaChangeCount.incrementAndGet();
        for (Controller c : s.controllers()) {
            if (c.hostNqn().equals(hostNqn)) {
                c.namespaceChanged(nsid);
                c.raiseNotice(AsyncEvents.INFO_ANA_CHANGE, LogPages.ANA, AsyncEvents.CONFIG_ANA_CHANGE);
            }
        }
    }

    /** The ANA groups known, by ID. */
    public AnaGroup anaGroup(int id) {
        return anaGroups.get(id);
    }

    /**
     * A namespace's device changed size (a volume grew online): the namespace takes the new size and every
     * controller of the subsystem gets a Namespace Attribute Changed notice naming it.
     */
    public void namespaceResized(Subsystem s, int nsid) {
        Namespace ns = s.namespace(nsid);
        if (ns == null || !ns.refreshSize()) {
            return;
        }
        for (Controller c : s.controllers()) {
            if (ns.visibleTo(c.hostNqn())) {
                c.namespaceChanged(nsid);
            }
        }
    }

    /** Sets an ANA group's state (1 optimized, 2 non-optimized, 3 inaccessible) and tells every affected controller. */
    public void setAnaState(int groupId, int state) {
        AnaGroup g = anaGroups.get(groupId);
        if (g == null) {
            throw new IllegalArgumentException("no ANA group " + groupId);
        }
        g.setState(state);
        anaChangeCount.incrementAndGet();
        for (Subsystem s : subsystems.values()) {
            for (Controller c : s.controllers()) {
                c.raiseNotice(AsyncEvents.INFO_ANA_CHANGE, LogPages.ANA, AsyncEvents.CONFIG_ANA_CHANGE);
            }
        }
    }

    public void addPort(Port port) {
        for (Port p : ports) {
            if (p.portId() == port.portId()) {
                throw new IllegalArgumentException("port ID " + port.portId() + " is taken");
            }
        }
        ports.add(port);
        discoveryChanged();
    }

    public List<Port> ports() {
        return List.copyOf(ports);
    }

    public Subsystem subsystem(String nqn) {
        return DISCOVERY_NQN.equals(nqn) ? discovery : subsystems.get(nqn);
    }

    /** NVM subsystems (not discovery) that admit {@code hostNqn}, in NQN order. */
    List<Subsystem> subsystemsFor(String hostNqn) {
        return subsystems.values().stream()
                .filter(s -> s.allowsHost(hostNqn))
                .sorted((a, b) -> a.nqn().compareTo(b.nqn()))
                .toList();
    }

    private void discoveryChanged() {
        discoveryGeneration.incrementAndGet();
        for (Controller c : discovery.controllers()) {
            c.raiseNotice(AsyncEvents.INFO_DISCOVERY_LOG_CHANGE, LogPages.DISCOVERY, AsyncEvents.CONFIG_DISCOVERY_LOG_CHANGE);
        }
    }

    long discoveryGeneration() {
        return discoveryGeneration.get();
    }

    long anaChangeCount() {
        return anaChangeCount.get();
    }

    /** ANA groups with at least one namespace of {@code s}, with those namespaces, in group order. */
    record AnaGroupView(AnaGroup group, int[] nsids) {
    }

    /** As {@link #anaGroupsOf(Subsystem)}, counting only the namespaces the controller's host sees. */
    List<AnaGroupView> anaGroupsOf(Controller c) {
        return anaGroupsOf(c.namespaces());
    }

    List<AnaGroupView> anaGroupsOf(Subsystem s) {
        return anaGroupsOf(s.namespaces());
    }

    private List<AnaGroupView> anaGroupsOf(java.util.Collection<Namespace> namespaces) {
        TreeMap<Integer, List<Integer>> byGroup = new TreeMap<>();
        for (Namespace ns : namespaces) {
            byGroup.computeIfAbsent(ns.anaGroup().id(), k -> new ArrayList<>()).add(ns.nsid());
        }
        List<AnaGroupView> out = new ArrayList<>();
        byGroup.forEach((id, nsids) -> out.add(new AnaGroupView(anaGroups.get(id), nsids.stream().mapToInt(Integer::intValue).toArray())));
        return out;
    }

    // --- queues and controllers ---

    @Override
    public FabricsQueue accept(QueueTransport transport) {
        return new QueuePair(this, transport);
    }

    /** A new controller with a free CNTLID, or null if none is left. */
    Controller createController(Subsystem s, String hostNqn, UUID hostId, int kato) {
        int id;
        synchronized (controllerIds) {
            id = controllerIds.nextClearBit(1);
            if (id > 0xFFEF) {
                return null;
            }
            controllerIds.set(id);
        }
        Controller c = new Controller(this, s, id, hostNqn, hostId, kato, s.isDiscovery() ? 0 : MAX_IO_QUEUES);
        s.addController(c);
        return c;
    }

    Controller findController(Subsystem s, int cntlid) {
        for (Controller c : s.controllers()) {
            if (c.cntlid() == cntlid) {
                return c;
            }
        }
        return null;
    }

    void controllerDestroyed(Controller c, String reason) {
        c.subsystem().removeController(c);
        synchronized (controllerIds) {
            controllerIds.clear(c.cntlid());
        }
        log(c + " removed: " + reason);
    }

    /** Controllers hosts have now, across all subsystems (discovery included). */
    public List<Controller> controllers() {
        List<Controller> all = new ArrayList<>(discovery.controllers());
        for (Subsystem s : subsystems.values()) {
            all.addAll(s.controllers());
        }
        return all;
    }

    public long keepAliveExpiries() {
        return keepAliveExpiries.get();
    }

    private void checkKeepAlive() {
        long now = System.nanoTime();
        for (Controller c : controllers()) {
            int kato = c.keepAliveTimeoutMs();
            if (kato <= 0) {
                continue;
            }
            // The host must send a Keep Alive within KATO; we allow half as long again for timer slop
            // and a busy host, then tear the controller down.
            long limit = TimeUnit.MILLISECONDS.toNanos(kato + kato / 2L);
            if (now - c.lastKeepAliveNanos() > limit) {
                keepAliveExpiries.incrementAndGet();
                c.destroy("keep-alive timeout (" + kato + " ms) expired");
            }
        }
    }

    // --- flushes that span namespaces ---

    /** Flushes every namespace of {@code s} on the timer thread, then runs {@code done}. */
    void flushAll(Subsystem s, Runnable done) {
        flushAll(s, status -> done.run());
    }

    /** Flush with NSID FFFFFFFFh: every namespace the controller's host sees. */
    void flushAllFor(NvmeRequest r, Controller c) {
        flushAll(c.namespaces(), status -> QueuePair.finish(r, status));
    }

    private void flushAll(Subsystem s, IntConsumer done) {
        flushAll(s.namespaces(), done);
    }

    private void flushAll(java.util.Collection<Namespace> namespaces, IntConsumer done) {
        timer.execute(() -> {
            int status = Status.SUCCESS;
            for (Namespace ns : namespaces) {
                if (flushNow(ns.device()) != IoCompletion.OK) {
                    status = Status.WRITE_FAULT;
                }
            }
            done.accept(status);
        });
    }

    /** Flushes one device and waits; for the timer thread and for shutdown. */
    static int flushNow(BlockDevice device) {
        CountDownLatch latch = new CountDownLatch(1);
        int[] result = {IoCompletion.EIO};
        device.flush(result, (res, errno) -> {
            res[0] = errno;
            latch.countDown();
        });
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                return IoCompletion.EIO;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoCompletion.EIO;
        }
        return result[0];
    }

    long uptimeHours() {
        return TimeUnit.NANOSECONDS.toHours(System.nanoTime() - startNanos);
    }

    public List<IoReactor> reactors() {
        return List.of(reactors);
    }

    void log(String message) {
        LOG.log(System.Logger.Level.INFO, message);
    }

    /** Answers every held Asynchronous Event Request, so that only real I/O is left in flight (shutdown). */
    public void abortAsyncEventRequests() {
        for (Controller c : controllers()) {
            c.abortAsyncEventRequests();
        }
    }

    /** Destroys every controller, then stops the reactors after the work they hold. */
    @Override
    public void close() {
        for (Controller c : controllers()) {
            c.destroy("target shutting down");
        }
        timer.shutdownNow();
        for (IoReactor r : reactors) {
            r.close();
        }
    }
}
