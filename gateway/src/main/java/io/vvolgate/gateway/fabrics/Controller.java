package io.vvolgate.gateway.fabrics;

import io.vvolgate.gateway.nvme.AsyncEvents;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Status;

import java.util.ArrayDeque;
import java.util.TreeSet;
import java.util.UUID;

/**
 * A controller of the dynamic controller model: created by an admin-queue Connect, destroyed when its
 * admin queue goes away (Disconnect, connection loss, keep-alive expiry). It owns its queues, its
 * properties (CC, CSTS), its features, its outstanding Asynchronous Event Requests and the events
 * waiting for one, and its Changed Namespace List.
 *
 * <p>Threads: the admin queue's thread runs admin commands; I/O queues connect from their own threads;
 * the keep-alive timer and the admin API raise events and tear down from theirs. So the state is guarded
 * by this object's monitor, except the keep-alive stamp (volatile, written on every command) and the
 * feature values read on the I/O path (volatile).
 */
public final class Controller {
    /** AERL + 1: how many Asynchronous Event Requests may be outstanding. */
    static final int MAX_AERS = 4;
    /** Changed Namespace List holds this many NSIDs before it says "more than that". */
    static final int CHANGED_NS_CAPACITY = 1024;

    private final Target target;
    private final Subsystem subsystem;
    private final int cntlid;
    private final String hostNqn;
    private final UUID hostId;
    private final QueuePair[] queues;

    private volatile long lastKeepAliveNanos;
    private volatile int keepAliveTimeoutMs;
    private volatile boolean writeCacheEnabled = true;

    private int cc;
    private int csts;
    private int ioQueuesGranted;
    private int asyncEventConfig;
    /** Feature 04h's default: 343 K (70 °C), the Identify Controller WCTEMP the controller reports. */
    static final int DEFAULT_TEMPERATURE_THRESHOLD = 0x157;
    private int temperatureThreshold = DEFAULT_TEMPERATURE_THRESHOLD;
    private boolean destroyed;

    private final ArrayDeque<NvmeRequest> aers = new ArrayDeque<>();
    private final ArrayDeque<Integer> pendingEvents = new ArrayDeque<>();
    /** Event information values of notices reported and not yet cleared by reading their log page. */
    private final TreeSet<Integer> maskedNotices = new TreeSet<>();
    private final TreeSet<Integer> changedNamespaces = new TreeSet<>(Integer::compareUnsigned);
    private boolean changedNamespacesOverflow;

    Controller(Target target, Subsystem subsystem, int cntlid, String hostNqn, UUID hostId, int keepAliveTimeoutMs, int maxIoQueues) {
        this.target = target;
        this.subsystem = subsystem;
        this.cntlid = cntlid;
        this.hostNqn = hostNqn;
        this.hostId = hostId;
        this.keepAliveTimeoutMs = keepAliveTimeoutMs;
        this.queues = new QueuePair[maxIoQueues + 1];
        this.ioQueuesGranted = maxIoQueues;
        touch();
    }

    public int cntlid() {
        return cntlid;
    }

    public Subsystem subsystem() {
        return subsystem;
    }

    public String hostNqn() {
        return hostNqn;
    }

    /** The namespace of that NSID if this controller's host may see it (an active NSID for it), else null. */
    Namespace namespace(int nsid) {
        return subsystem.namespaceFor(nsid, hostNqn);
    }

    /** The host's active namespaces, in NSID order. */
    java.util.List<Namespace> namespaces() {
        return subsystem.namespacesFor(hostNqn);
    }

    public UUID hostId() {
        return hostId;
    }

    Target target() {
        return target;
    }

    /** Records host activity for the keep-alive timer. Any thread, every command. */
    void touch() {
        lastKeepAliveNanos = System.nanoTime();
    }

    long lastKeepAliveNanos() {
        return lastKeepAliveNanos;
    }

    int keepAliveTimeoutMs() {
        return keepAliveTimeoutMs;
    }

    void setKeepAliveTimeoutMs(int ms) {
        keepAliveTimeoutMs = ms;
        touch();
    }

    boolean writeCacheEnabled() {
        return writeCacheEnabled;
    }

    void setWriteCacheEnabled(boolean enabled) {
        writeCacheEnabled = enabled;
    }

    synchronized int temperatureThreshold() {
        return temperatureThreshold;
    }

    synchronized void setTemperatureThreshold(int kelvin) {
        temperatureThreshold = kelvin;
    }

    synchronized int asyncEventConfig() {
        return asyncEventConfig;
    }

    synchronized void setAsyncEventConfig(int config) {
        asyncEventConfig = config;
    }

    int maxIoQueues() {
        return queues.length - 1;
    }

    synchronized int ioQueuesGranted() {
        return ioQueuesGranted;
    }

    /** Number of Queues feature: grants up to what the target offers; the host's numbers are 0-based. */
    synchronized int grantIoQueues(int requested) {
        ioQueuesGranted = Math.min(requested, maxIoQueues());
        return ioQueuesGranted;
    }

    // --- queues ---

    synchronized void attachAdminQueue(QueuePair admin) {
        queues[0] = admin;
    }

    /** Binds an I/O queue; returns a Connect status (0 on success). */
    synchronized int attachIoQueue(QueuePair q, int qid) {
        if (destroyed) {
            return Status.CONNECT_INVALID_PARAMETERS;
        }
        if ((csts & Properties.CSTS_RDY) == 0) {
            return Status.COMMAND_SEQUENCE_ERROR;
        }
        if (qid < 1 || qid > ioQueuesGranted || queues[qid] != null) {
            return Status.CONNECT_INVALID_PARAMETERS;
        }
        queues[qid] = q;
        return Status.SUCCESS;
    }

    /** A queue's connection went away. Losing the admin queue destroys the controller. */
    void queueClosed(QueuePair q) {
        boolean admin;
        synchronized (this) {
            int qid = q.queueId();
            if (qid < 0 || qid >= queues.length || queues[qid] != q) {
                return;
            }
            queues[qid] = null;
            admin = qid == 0;
        }
        if (admin) {
            destroy("admin queue closed");
        }
    }

    /** Tears the controller down: every queue's connection is closed and outstanding AERs are aborted. */
    void destroy(String reason) {
        QueuePair[] toClose;
        ArrayDeque<NvmeRequest> abandoned;
        synchronized (this) {
            if (destroyed) {
                return;
            }
            destroyed = true;
            toClose = queues.clone();
            abandoned = new ArrayDeque<>(aers);
            aers.clear();
            pendingEvents.clear();
        }
        target.controllerDestroyed(this, reason);
        for (NvmeRequest r : abandoned) {
            r.setStatus(Status.ABORTED_SQ_DELETION);
            r.complete();
        }
        for (QueuePair q : toClose) {
            if (q != null) {
                q.transport().close(reason);
            }
        }
    }

    synchronized boolean destroyed() {
        return destroyed;
    }

    // --- properties ---

    synchronized long propertyGet(int offset) {
        return switch (offset) {
            case Properties.CAP -> Properties.capabilities(Target.MAX_QUEUE_ENTRIES, Target.CAP_TIMEOUT_HALF_SECONDS);
            case Properties.VS -> Properties.VERSION_1_3;
            case Properties.CC -> cc & 0xFFFFFFFFL;
            case Properties.CSTS -> csts & 0xFFFFFFFFL;
            case Properties.NSSR -> 0;
            default -> -1;
        };
    }

    /** Writes CC (the only writable property we have); returns an NVMe status. */
    int propertySet(int offset, long value) {
        if (offset != Properties.CC) {
            // CAP, VS and CSTS are read-only; NVM Subsystem Reset is not supported (CAP.NSSRS = 0).
            return Status.INVALID_FIELD;
        }
        int newCc = (int) value;
        boolean shutdown = false;
        boolean disabled = false;
        synchronized (this) {
            int old = cc;
            cc = newCc;
            if ((newCc & Properties.CC_EN) != 0 && (old & Properties.CC_EN) == 0) {
                int iosqes = (newCc >> Properties.CC_IOSQES_SHIFT) & 0xF;
                int iocqes = (newCc >> Properties.CC_IOCQES_SHIFT) & 0xF;
                int mps = (newCc >> 7) & 0xF;
                boolean valid = (subsystem.isDiscovery() || (iosqes == 6 && iocqes == 4)) && mps == 0;
                csts = valid ? Properties.CSTS_RDY : Properties.CSTS_CFS;
            } else if ((newCc & Properties.CC_EN) == 0 && (old & Properties.CC_EN) != 0) {
                csts &= ~(Properties.CSTS_RDY | Properties.CSTS_SHST_COMPLETE | Properties.CSTS_SHST_OCCURRING);
                disabled = true;
            }
            if ((newCc & Properties.CC_SHN_MASK) != 0 && (old & Properties.CC_SHN_MASK) == 0) {
                csts = (csts & ~(0x3 << 2)) | Properties.CSTS_SHST_OCCURRING;
                shutdown = true;
            }
        }
        if (disabled) {
            closeIoQueues("controller disabled (CC.EN cleared)");
        }
        if (shutdown) {
            target.flushAll(subsystem, this::shutdownComplete);
        }
        return Status.SUCCESS;
    }

    private synchronized void shutdownComplete() {
        csts = (csts & ~(0x3 << 2)) | Properties.CSTS_SHST_COMPLETE;
    }

    private void closeIoQueues(String reason) {
        QueuePair[] snapshot;
        synchronized (this) {
            snapshot = queues.clone();
        }
        for (int i = 1; i < snapshot.length; i++) {
            if (snapshot[i] != null) {
                snapshot[i].transport().close(reason);
            }
        }
    }

    // --- asynchronous events ---

    /** Holds an Asynchronous Event Request until there is something to report; returns false if over the limit. */
    boolean holdAsyncEventRequest(NvmeRequest r) {
        synchronized (this) {
            if (destroyed || aers.size() >= MAX_AERS) {
                return false;
            }
            aers.add(r);
        }
        dispatchEvents();
        return true;
    }

    /** Raises a notice if the host enabled it and the same kind is not already reported and unread. */
    void raiseNotice(int info, int logPage, int configBit) {
        synchronized (this) {
            if ((asyncEventConfig & configBit) == 0 || maskedNotices.contains(info)) {
                return;
            }
            maskedNotices.add(info);
            pendingEvents.add(AsyncEvents.notice(info, logPage));
        }
        dispatchEvents();
    }

    /** The host read a log page: its notice may be reported again (unless it asked to Retain the event). */
    synchronized void logPageRead(int lid, boolean retain) {
        if (retain) {
            return;
        }
        switch (lid) {
            case LogPages.CHANGED_NAMESPACE_LIST -> maskedNotices.remove(AsyncEvents.INFO_NAMESPACE_ATTRIBUTE_CHANGED);
            case LogPages.ANA -> maskedNotices.remove(AsyncEvents.INFO_ANA_CHANGE);
            case LogPages.DISCOVERY -> maskedNotices.remove(AsyncEvents.INFO_DISCOVERY_LOG_CHANGE);
            default -> {
            }
        }
    }

    private void dispatchEvents() {
        while (true) {
            NvmeRequest r;
            int event;
            synchronized (this) {
                if (aers.isEmpty() || pendingEvents.isEmpty()) {
                    return;
                }
                r = aers.poll();
                event = pendingEvents.poll();
            }
            r.setResult(event);
            r.setStatus(Status.SUCCESS);
            r.complete();
        }
    }

    /** Completes every held Asynchronous Event Request (for shutdown: they would otherwise never finish). */
    void abortAsyncEventRequests() {
        ArrayDeque<NvmeRequest> held;
        synchronized (this) {
            held = new ArrayDeque<>(aers);
            aers.clear();
        }
        for (NvmeRequest r : held) {
            r.setStatus(Status.ABORTED_SQ_DELETION);
            r.complete();
        }
    }

    /** Abort: an outstanding AER with this CID is aborted; returns true if one was. */
    boolean abortAsyncEventRequest(int cid) {
        NvmeRequest found = null;
        synchronized (this) {
            for (NvmeRequest r : aers) {
                if (r.cid() == cid) {
                    found = r;
                    break;
                }
            }
            if (found != null) {
                aers.remove(found);
            }
        }
        if (found == null) {
            return false;
        }
        found.setStatus(Status.ABORT_REQUESTED);
        found.complete();
        return true;
    }

    // --- changed namespace list ---

    void namespaceChanged(int nsid) {
        synchronized (this) {
            if (changedNamespaces.size() >= CHANGED_NS_CAPACITY) {
                changedNamespacesOverflow = true;
            } else {
                changedNamespaces.add(nsid);
            }
        }
        raiseNotice(AsyncEvents.INFO_NAMESPACE_ATTRIBUTE_CHANGED, LogPages.CHANGED_NAMESPACE_LIST, AsyncEvents.CONFIG_NAMESPACE_ATTRIBUTE);
    }

    /** Returns the changed NSIDs (or {0xFFFFFFFF} after an overflow) and, unless retained, clears the list. */
    synchronized int[] takeChangedNamespaces(boolean retain) {
        int[] out = changedNamespacesOverflow
                ? new int[] {0xFFFFFFFF}
                : changedNamespaces.stream().mapToInt(Integer::intValue).toArray();
        if (!retain) {
            changedNamespaces.clear();
            changedNamespacesOverflow = false;
        }
        return out;
    }

    synchronized boolean ready() {
        return (csts & Properties.CSTS_RDY) != 0;
    }

    @Override
    public String toString() {
        return "controller " + cntlid + " of " + subsystem.nqn() + " for " + hostNqn;
    }
}
