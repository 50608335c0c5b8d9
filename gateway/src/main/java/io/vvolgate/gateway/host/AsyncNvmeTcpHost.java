package io.vvolgate.gateway.host;

import io.netty.channel.EventLoopGroup;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Sqe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A host's association with one controller over NVMe/TCP on Netty, set up as the Linux host does it:
 * admin queue ICReq and Connect, CAP, CC.EN, wait for CSTS.RDY, Identify Controller (for IOCCSZ), Set
 * Features Number of Queues, then one channel per I/O queue with its own Connect. The I/O queues are
 * {@link AsyncNvmeTcpQueue}s spread round-robin over the event loop group's threads.
 *
 * <p>Threads: {@link #connect}, {@link #identifyNamespace} and {@link #close} block and must be called
 * from an ordinary thread, not an event loop. The queues' own rules are in {@link AsyncNvmeTcpQueue}.
 * Without a keep-alive timer (KATO 0) nothing runs in the background.
 */
public final class AsyncNvmeTcpHost implements AutoCloseable {
    public static final String DEFAULT_HOST_NQN = "nqn.2014-08.io.vvolgate:host:async";
    /** The admin queue's depth; setup commands go one at a time. */
    private static final int ADMIN_DEPTH = 32;
    /** In-capsule data the spec lets a host assume on the admin queue (Connect's 1024 bytes fit). */
    private static final int ADMIN_IN_CAPSULE = 8192;
    private static final long READY_TIMEOUT_NANOS = 10_000_000_000L;

    /**
     * What to connect to and how.
     *
     * @param ioQueues   I/O queues (one channel each), 0..65534
     * @param queueDepth commands in flight per I/O queue, 1..1023 (the queue is created one entry larger)
     * @param group      the event loops to run on, or null to create {@code threads} of them (owned and shut down by the host)
     */
    public record Options(String address, int port, String subNqn, String hostNqn, int ioQueues, int queueDepth,
                          boolean headerDigest, boolean dataDigest, EventLoopGroup group, int threads) {
        public Options {
            Objects.requireNonNull(address, "address");
            Objects.requireNonNull(subNqn, "subNqn");
            Objects.requireNonNull(hostNqn, "hostNqn");
            if (queueDepth < 1 || queueDepth > 1023) {
                throw new IllegalArgumentException("queueDepth must be in 1..1023: " + queueDepth);
            }
            if (ioQueues < 0 || ioQueues > 0xFFFE) {
                throw new IllegalArgumentException("ioQueues must be in 0..65534: " + ioQueues);
            }
            if (group == null && threads < 1) {
                throw new IllegalArgumentException("threads must be at least 1: " + threads);
            }
        }

        /** No digests, the default host NQN, one event loop thread of the host's own. */
        public static Options of(String address, int port, String subNqn, int ioQueues, int queueDepth) {
            return new Options(address, port, subNqn, DEFAULT_HOST_NQN, ioQueues, queueDepth, false, false, null, 1);
        }
    }

    /** A namespace as Identify Namespace describes it. */
    public record NamespaceInfo(int nsid, long blocks, int blockSize) {
        public long bytes() {
            return blocks * blockSize;
        }
    }

    private final EventLoopGroup group;
    private final boolean ownsGroup;
    private final AsyncNvmeTcpQueue admin;
    private final List<AsyncNvmeTcpQueue> ioQueues;
    private final int cntlid;
    private final int inCapsuleLimit;

    private AsyncNvmeTcpHost(EventLoopGroup group, boolean ownsGroup, AsyncNvmeTcpQueue admin,
                             List<AsyncNvmeTcpQueue> ioQueues, int cntlid, int inCapsuleLimit) {
        this.group = group;
        this.ownsGroup = ownsGroup;
        this.admin = admin;
        this.ioQueues = List.copyOf(ioQueues);
        this.cntlid = cntlid;
        this.inCapsuleLimit = inCapsuleLimit;
    }

    /** Connects the admin queue, enables the controller and connects the I/O queues. Blocking. */
    public static AsyncNvmeTcpHost connect(Options o) throws IOException {
        boolean owns = o.group() == null;
        EventLoopGroup group = owns ? AsyncNvmeTcpQueue.newEventLoopGroup(o.threads()) : o.group();
        UUID hostId = UUID.nameUUIDFromBytes(o.hostNqn().getBytes(StandardCharsets.UTF_8));
        AsyncNvmeTcpQueue admin = null;
        List<AsyncNvmeTcpQueue> io = new ArrayList<>();
        try {
            admin = AsyncNvmeTcpQueue.open(group, o.address(), o.port(), ADMIN_DEPTH, o.headerDigest(), o.dataDigest());
            admin.setInCapsuleLimit(ADMIN_IN_CAPSULE);
            AsyncNvmeTcpQueue.Completion c = admin.connect(o.subNqn(), o.hostNqn(), hostId, 0, ADMIN_DEPTH, 0xFFFF, 0);
            check(c, "admin Connect");
            int cntlid = c.result0() & 0xFFFF;
            check(admin.propertyGet(Properties.CAP, true), "Property Get CAP");
            check(admin.propertySet(Properties.CC, Properties.CC_EN | (6 << Properties.CC_IOSQES_SHIFT)
                    | (4 << Properties.CC_IOCQES_SHIFT)), "Property Set CC.EN");
            long deadline = System.nanoTime() + READY_TIMEOUT_NANOS;
            while ((admin.propertyGet(Properties.CSTS, false).result0() & Properties.CSTS_RDY) == 0) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("the controller did not become ready (CSTS.RDY) within 10 s");
                }
                Thread.onSpinWait();
            }
            AsyncNvmeTcpQueue.Completion id = admin.executeAndWait(identifySqe(Identify.CNS_CONTROLLER, 0), null, Identify.SIZE);
            check(id, "Identify Controller");
            int ioccsz = le(id.data()).getInt(Identify.CTRL_IOCCSZ);
            int inCapsule = Math.max(0, ioccsz * 16 - 64);
            if (o.ioQueues() > 0) {
                byte[] sf = AsyncNvmeTcpQueue.sqe(Opcodes.ADMIN_SET_FEATURES, 0);
                AsyncNvmeTcpQueue.putLe(sf, Sqe.CDW10_OFFSET, Features.NUMBER_OF_QUEUES, 4);
                AsyncNvmeTcpQueue.putLe(sf, Sqe.CDW11_OFFSET, ((o.ioQueues() - 1) << 16) | (o.ioQueues() - 1), 4);
                AsyncNvmeTcpQueue.Completion granted = admin.executeAndWait(sf, null, 0);
                check(granted, "Set Features Number of Queues");
                int sq = (granted.result0() & 0xFFFF) + 1;
                int cq = (granted.result0() >>> 16) + 1;
                if (Math.min(sq, cq) < o.ioQueues()) {
                    throw new IOException("the controller grants " + Math.min(sq, cq) + " I/O queues, not " + o.ioQueues());
                }
                for (int qid = 1; qid <= o.ioQueues(); qid++) {
                    AsyncNvmeTcpQueue q = AsyncNvmeTcpQueue.open(group, o.address(), o.port(), o.queueDepth(),
                            o.headerDigest(), o.dataDigest());
                    io.add(q);
                    q.setInCapsuleLimit(inCapsule);
                    check(q.connect(o.subNqn(), o.hostNqn(), hostId, qid, o.queueDepth() + 1, cntlid, 0),
                            "I/O queue " + qid + " Connect");
                }
            }
            return new AsyncNvmeTcpHost(group, owns, admin, io, cntlid, inCapsule);
        } catch (IOException | RuntimeException e) {
            io.forEach(AsyncNvmeTcpQueue::close);
            if (admin != null) {
                admin.close();
            }
            if (owns) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
            }
            throw e;
        }
    }

    private static void check(AsyncNvmeTcpQueue.Completion c, String what) throws IOException {
        if (!c.ok()) {
            throw new IOException(what + " failed with status 0x" + Integer.toHexString(c.status()));
        }
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** An Identify SQE for {@code cns} and {@code nsid}. */
    public static byte[] identifySqe(int cns, int nsid) {
        byte[] b = AsyncNvmeTcpQueue.sqe(Opcodes.ADMIN_IDENTIFY, nsid);
        AsyncNvmeTcpQueue.putLe(b, Sqe.CDW10_OFFSET, cns, 4);
        return b;
    }

    /** Identify Namespace: size and LBA size of {@code nsid}. Blocking. */
    public NamespaceInfo identifyNamespace(int nsid) throws IOException {
        AsyncNvmeTcpQueue.Completion c = admin.executeAndWait(identifySqe(Identify.CNS_NAMESPACE, nsid), null, Identify.SIZE);
        check(c, "Identify Namespace " + nsid);
        ByteBuffer b = le(c.data());
        long blocks = b.getLong(Identify.NS_NSZE);
        if (blocks == 0) {
            throw new IOException("namespace " + nsid + " is not active");
        }
        int format = b.get(Identify.NS_FLBAS) & 0x0F;
        int lbads = b.get(Identify.NS_LBAF0 + 4 * format + 2) & 0xFF;
        return new NamespaceInfo(nsid, blocks, 1 << lbads);
    }

    public AsyncNvmeTcpQueue admin() {
        return admin;
    }

    public AsyncNvmeTcpQueue io(int index) {
        return ioQueues.get(index);
    }

    public int ioQueueCount() {
        return ioQueues.size();
    }

    public int cntlid() {
        return cntlid;
    }

    /** Largest write sent in the capsule on the I/O queues (from IOCCSZ); bigger ones go by R2T. */
    public int inCapsuleLimit() {
        return inCapsuleLimit;
    }

    public EventLoopGroup group() {
        return group;
    }

    /** Closes every queue (commands in flight complete with a lost-connection status) and an owned group. */
    @Override
    public void close() {
        for (AsyncNvmeTcpQueue q : ioQueues) {
            q.close();
        }
        admin.close();
        if (ownsGroup) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }
}
