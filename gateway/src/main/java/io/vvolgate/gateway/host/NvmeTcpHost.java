package io.vvolgate.gateway.host;

import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * A host's association with one controller over NVMe/TCP, set up as the Linux host does it: admin queue
 * Connect, CAP and CC.EN, wait for CSTS.RDY, Identify Controller, Number of Queues, then the I/O queues.
 * For tests and tools (and later benchmarks and replication); it is deliberately simple.
 */
public final class NvmeTcpHost implements AutoCloseable {
    public static final String DEFAULT_HOST_NQN = "nqn.2014-08.io.vvolgate:host:test";

    private final NvmeTcpQueue admin;
    private final List<NvmeTcpQueue> ioQueues;
    private final int cntlid;
    private final byte[] identifyController;

    private NvmeTcpHost(NvmeTcpQueue admin, List<NvmeTcpQueue> ioQueues, int cntlid, byte[] identifyController) {
        this.admin = admin;
        this.ioQueues = ioQueues;
        this.cntlid = cntlid;
        this.identifyController = identifyController;
    }

    /** Connects to {@code subNqn} with {@code ioQueueCount} I/O queues of {@code queueSize} entries. */
    public static NvmeTcpHost connect(String address, int port, String subNqn, String hostNqn, int ioQueueCount,
                                      int queueSize, boolean digests) throws IOException {
        UUID hostId = UUID.nameUUIDFromBytes(hostNqn.getBytes());
        NvmeTcpQueue admin = NvmeTcpQueue.open(address, port, digests, digests);
        List<NvmeTcpQueue> io = new ArrayList<>();
        try {
            NvmeTcpQueue.Completion c = admin.connect(subNqn, hostNqn, hostId, 0, 32, 0xFFFF, 10_000);
            check(c, "admin Connect");
            int cntlid = c.result0() & 0xFFFF;
            check(admin.propertyGet(Properties.CAP, true), "Property Get CAP");
            check(admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)), "Property Set CC.EN");
            long deadline = System.nanoTime() + 10_000_000_000L;
            while ((admin.propertyGet(Properties.CSTS, false).result0() & Properties.CSTS_RDY) == 0) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("controller did not become ready");
                }
                Thread.onSpinWait();
            }
            NvmeTcpQueue.Completion id = admin.execute(identifySqe(Identify.CNS_CONTROLLER, 0), null, 4096);
            check(id, "Identify Controller");
            boolean discovery = subNqn.startsWith("nqn.2014-08.org.nvmexpress.discovery");
            if (ioQueueCount > 0 && !discovery) {
                ByteBuffer sf = NvmeTcpQueue.sqe(Opcodes.ADMIN_SET_FEATURES, 0);
                sf.putInt(40, Features.NUMBER_OF_QUEUES);
                sf.putInt(44, ((ioQueueCount - 1) << 16) | (ioQueueCount - 1));
                check(admin.execute(sf, null, 0), "Set Features Number of Queues");
                int ioccsz = ByteBuffer.wrap(id.data()).order(ByteOrder.LITTLE_ENDIAN).getInt(Identify.CTRL_IOCCSZ);
                for (int qid = 1; qid <= ioQueueCount; qid++) {
                    NvmeTcpQueue q = NvmeTcpQueue.open(address, port, digests, digests);
                    io.add(q);
                    q.setInCapsuleLimit(ioccsz * 16 - 64);
                    check(q.connect(subNqn, hostNqn, hostId, qid, queueSize, cntlid, 0), "I/O queue " + qid + " Connect");
                }
            }
            return new NvmeTcpHost(admin, io, cntlid, id.data());
        } catch (IOException | RuntimeException e) {
            io.forEach(NvmeTcpQueue::close);
            admin.close();
            throw e;
        }
    }

    private static void check(NvmeTcpQueue.Completion c, String what) throws IOException {
        if (!c.ok()) {
            throw new IOException(what + " failed with status 0x" + Integer.toHexString(c.status()));
        }
    }

    public static ByteBuffer identifySqe(int cns, int nsid) {
        ByteBuffer b = NvmeTcpQueue.sqe(Opcodes.ADMIN_IDENTIFY, nsid);
        b.putInt(40, cns);
        return b;
    }

    public static ByteBuffer getLogPageSqe(int lid, int nsid, int bytes) {
        ByteBuffer b = NvmeTcpQueue.sqe(Opcodes.ADMIN_GET_LOG_PAGE, nsid);
        int numd = bytes / 4 - 1;
        b.putInt(40, lid | ((numd & 0xFFFF) << 16));
        b.putInt(44, numd >>> 16);
        return b;
    }

    /** A Read, Write, Compare or Write Zeroes SQE. */
    public static ByteBuffer rwSqe(int opcode, int nsid, long slba, int blocks) {
        ByteBuffer b = NvmeTcpQueue.sqe(opcode, nsid);
        b.putLong(40, slba);
        b.putInt(48, blocks - 1);
        return b;
    }

    public NvmeTcpQueue admin() {
        return admin;
    }

    public NvmeTcpQueue io(int index) {
        return ioQueues.get(index);
    }

    public int ioQueueCount() {
        return ioQueues.size();
    }

    public int cntlid() {
        return cntlid;
    }

    public byte[] identifyController() {
        return identifyController.clone();
    }

    public NvmeTcpQueue.Completion read(int queue, int nsid, long slba, int blocks, int blockSize) throws IOException {
        return io(queue).execute(rwSqe(Opcodes.IO_READ, nsid, slba, blocks), null, blocks * blockSize);
    }

    public NvmeTcpQueue.Completion write(int queue, int nsid, long slba, byte[] data, int blockSize) throws IOException {
        return io(queue).execute(rwSqe(Opcodes.IO_WRITE, nsid, slba, data.length / blockSize), data, 0);
    }

    public NvmeTcpQueue.Completion discoveryLog(int bytes) throws IOException {
        return admin.execute(getLogPageSqe(LogPages.DISCOVERY, 0, bytes), null, bytes);
    }

    @Override
    public void close() {
        for (NvmeTcpQueue q : ioQueues) {
            q.close();
        }
        admin.close();
    }
}
