package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.nvme.ConnectData;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Sqe;
import io.vvolgate.gateway.nvme.Status;

import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * The core's side of one queue: it takes the Connect that binds it to a controller, answers the Fabrics
 * commands, runs admin commands (admin queue) or validates I/O commands and hands them to their
 * namespace's reactor (I/O queue). It pairs fused commands and keeps the SQ head for the completions.
 *
 * <p>Thread: only the transport connection's thread calls it ({@link FabricsQueue}); completions may
 * happen anywhere.
 */
final class QueuePair implements FabricsQueue {
    private final Target target;
    private final QueueTransport transport;

    private Controller controller;
    private int qid = -1;
    private int sqSize;
    private int sqHead;
    private boolean sqFlowControlDisabled;
    private boolean closed;
    /** The first command of a fused pair, waiting for its second. */
    private NvmeRequest fusedFirst;

    QueuePair(Target target, QueueTransport transport) {
        this.target = target;
        this.transport = transport;
    }

    QueueTransport transport() {
        return transport;
    }

    Controller controller() {
        return controller;
    }

    @Override
    public int queueId() {
        return qid;
    }

    @Override
    public boolean sqFlowControlDisabled() {
        return sqFlowControlDisabled;
    }

    @Override
    public void submit(NvmeRequest r) {
        if (controller != null) {
            controller.touch();
            sqHead = sqHead == sqSize ? 0 : sqHead + 1;
            r.setQueueFields(sqHead, qid);
        }
        int opcode = r.opcode();
        if (opcode == Opcodes.FABRICS) {
            fabrics(r);
        } else if (controller == null) {
            finish(r, Status.COMMAND_SEQUENCE_ERROR);
        } else if (qid == 0) {
            // Before CC.EN = 1 (and CSTS.RDY) an I/O controller accepts only Fabrics commands: Connect, then
            // Property Get/Set to enable. Linux's target refuses the rest with Command Sequence Error too,
            // and, like it, a discovery controller is exempt (some clients read the log without enabling).
            if (!controller.ready() && !controller.subsystem().isDiscovery()) {
                finish(r, Status.COMMAND_SEQUENCE_ERROR);
                return;
            }
            AdminCommands.execute(controller, r);
        } else {
            io(r);
        }
    }

    @Override
    public void transportClosed() {
        if (closed) {
            return;
        }
        closed = true;
        if (fusedFirst != null) {
            NvmeRequest first = fusedFirst;
            fusedFirst = null;
            finish(first, Status.ABORTED_SQ_DELETION);
        }
        if (controller != null) {
            controller.queueClosed(this);
        }
    }

    static void finish(NvmeRequest r, int status) {
        r.setStatus(status);
        if (status == Status.SUCCESS && r.dataDirection() == NvmeRequest.DIR_C2H && r.data().writerIndex() < r.dataLength()) {
            r.data().writeZero(r.dataLength() - r.data().writerIndex());
        }
        r.complete();
    }

    // --- Fabrics commands ---

    private void fabrics(NvmeRequest r) {
        int fctype = r.sqe().getUnsignedByte(Sqe.FCTYPE_OFFSET);
        if (fctype == Opcodes.FCTYPE_CONNECT) {
            connect(r);
            return;
        }
        if (controller == null) {
            finish(r, Status.COMMAND_SEQUENCE_ERROR);
            return;
        }
        switch (fctype) {
            case Opcodes.FCTYPE_PROPERTY_GET -> propertyGet(r);
            case Opcodes.FCTYPE_PROPERTY_SET -> propertySet(r);
            case Opcodes.FCTYPE_DISCONNECT -> {
                finish(r, Status.SUCCESS);
                transport.close("host sent Disconnect for queue " + qid);
            }
            default -> finish(r, Status.INVALID_OPCODE);
        }
    }

    private void propertyGet(NvmeRequest r) {
        if (qid != 0) {
            finish(r, Status.INVALID_FIELD);
            return;
        }
        int offset = r.sqe().getIntLE(Sqe.PROPERTY_OFST_OFFSET);
        boolean eightBytes = (r.sqe().getUnsignedByte(Sqe.PROPERTY_ATTRIB_OFFSET) & 0x7) == 1;
        long value = controller.propertyGet(offset);
        if (value == -1 || (eightBytes && offset != io.vvolgate.gateway.nvme.Properties.CAP)) {
            finish(r, Status.INVALID_FIELD);
            return;
        }
        r.setResult((int) value, eightBytes ? (int) (value >>> 32) : 0);
        finish(r, Status.SUCCESS);
    }

    private void propertySet(NvmeRequest r) {
        if (qid != 0) {
            finish(r, Status.INVALID_FIELD);
            return;
        }
        int offset = r.sqe().getIntLE(Sqe.PROPERTY_OFST_OFFSET);
        long value = r.sqe().getLongLE(Sqe.PROPERTY_VALUE_OFFSET);
        finish(r, controller.propertySet(offset, value));
    }

    private void connect(NvmeRequest r) {
        if (controller != null) {
            finish(r, Status.COMMAND_SEQUENCE_ERROR);
            return;
        }
        ByteBuf sqe = r.sqe();
        ByteBuf data = r.data();
        if (r.dataDirection() != NvmeRequest.DIR_H2C || data == null || r.dataLength() < ConnectData.SIZE) {
            finish(r, Status.SGL_DATA_LENGTH_INVALID);
            return;
        }
        int recfmt = sqe.getUnsignedShortLE(Sqe.CONNECT_RECFMT_OFFSET);
        int requestedQid = sqe.getUnsignedShortLE(Sqe.CONNECT_QID_OFFSET);
        int sqsize = sqe.getUnsignedShortLE(Sqe.CONNECT_SQSIZE_OFFSET);
        int cattr = sqe.getUnsignedByte(Sqe.CONNECT_CATTR_OFFSET);
        long kato = sqe.getUnsignedIntLE(Sqe.CONNECT_KATO_OFFSET);
        int base = data.readerIndex();
        UUID hostId = new UUID(data.getLong(base + ConnectData.HOSTID_OFFSET), data.getLong(base + ConnectData.HOSTID_OFFSET + 8));
        int cntlid = data.getUnsignedShortLE(base + ConnectData.CNTLID_OFFSET);
        String subNqn = nqn(data, base + ConnectData.SUBNQN_OFFSET);
        String hostNqn = nqn(data, base + ConnectData.HOSTNQN_OFFSET);

        if (recfmt != 0) {
            finish(r, Status.CONNECT_INCOMPATIBLE_FORMAT);
            return;
        }
        Subsystem subsystem = target.subsystem(subNqn);
        if (subsystem == null) {
            invalidConnectData(r, ConnectData.SUBNQN_OFFSET, Status.CONNECT_INVALID_PARAMETERS);
            target.log("refused connect from " + transport.remoteAddress() + ": no subsystem " + subNqn);
            return;
        }
        if (hostNqn.isEmpty() || !subsystem.allowsHost(hostNqn)) {
            invalidConnectData(r, ConnectData.HOSTNQN_OFFSET, Status.CONNECT_INVALID_HOST);
            target.log("refused connect from " + transport.remoteAddress() + ": host " + hostNqn + " is not allowed on " + subNqn);
            return;
        }
        int maxEntries = requestedQid == 0 ? Target.MAX_ADMIN_QUEUE_ENTRIES : Target.MAX_QUEUE_ENTRIES;
        if (sqsize == 0 || sqsize + 1 > maxEntries) {
            invalidConnectSqe(r, Sqe.CONNECT_SQSIZE_OFFSET);
            return;
        }
        if (requestedQid == 0) {
            if (cntlid != ConnectData.CNTLID_DYNAMIC) {
                invalidConnectData(r, ConnectData.CNTLID_OFFSET, Status.CONNECT_INVALID_PARAMETERS);
                return;
            }
            if (kato > Target.MAX_KATO_MS) {
                invalidConnectSqe(r, Sqe.CONNECT_KATO_OFFSET);
                target.log("refused connect from " + transport.remoteAddress() + ": keep-alive timeout " + kato
                        + " ms is above " + Target.MAX_KATO_MS + " ms");
                return;
            }
            if (kato == 0 && !subsystem.isDiscovery()) {
                // Linux always asks for one; without it a dead host's controller would live for ever.
                kato = Target.DEFAULT_KATO_MS;
            }
            Controller c = target.createController(subsystem, hostNqn, hostId, (int) kato);
            if (c == null) {
                finish(r, Status.CONNECT_CONTROLLER_BUSY);
                return;
            }
            bind(c, 0, sqsize, cattr);
            c.attachAdminQueue(this);
            r.setQueueFields(sqHead, 0);
            r.setResult(c.cntlid());
            finish(r, Status.SUCCESS);
            target.log("controller " + c.cntlid() + " on " + subNqn + " for host " + hostNqn + " from " + transport.remoteAddress());
            return;
        }
        if (subsystem.isDiscovery()) {
            invalidConnectSqe(r, Sqe.CONNECT_QID_OFFSET);
            return;
        }
        Controller c = target.findController(subsystem, cntlid);
        if (c == null || !c.hostNqn().equals(hostNqn) || !c.hostId().equals(hostId)) {
            invalidConnectData(r, ConnectData.CNTLID_OFFSET, Status.CONNECT_INVALID_PARAMETERS);
            return;
        }
        int status = c.attachIoQueue(this, requestedQid);
        if (status == Status.CONNECT_INVALID_PARAMETERS) {
            invalidConnectSqe(r, Sqe.CONNECT_QID_OFFSET);
            return;
        }
        if (status != Status.SUCCESS) {
            finish(r, status);
            return;
        }
        bind(c, requestedQid, sqsize, cattr);
        r.setQueueFields(sqHead, requestedQid);
        r.setResult(c.cntlid());
        finish(r, Status.SUCCESS);
    }

    private void bind(Controller c, int queueId, int sqsize, int cattr) {
        this.controller = c;
        this.qid = queueId;
        this.sqSize = sqsize;
        this.sqHead = 1; // the Connect itself took the first entry
        this.sqFlowControlDisabled = (cattr & ConnectData.CATTR_DISABLE_SQ_FLOW_CONTROL) != 0;
    }

    /** Connect Invalid Parameters pointing into the Connect data: DW0 = IATTR (bit 16) | IPO. */
    private static void invalidConnectData(NvmeRequest r, int offset, int status) {
        r.setResult((1 << 16) | offset);
        finish(r, status);
    }

    /** Connect Invalid Parameters pointing into the SQE. */
    private static void invalidConnectSqe(NvmeRequest r, int offset) {
        r.setResult(offset);
        finish(r, Status.CONNECT_INVALID_PARAMETERS);
    }

    private static String nqn(ByteBuf data, int offset) {
        int end = offset;
        int limit = offset + ConnectData.NQN_FIELD_LENGTH;
        while (end < limit && data.getByte(end) != 0) {
            end++;
        }
        return data.toString(offset, end - offset, StandardCharsets.UTF_8);
    }

    // --- I/O commands ---

    private void io(NvmeRequest r) {
        int fuse = r.fuse();
        if (fusedFirst != null) {
            NvmeRequest first = fusedFirst;
            fusedFirst = null;
            if (fuse == Opcodes.FUSE_SECOND && r.opcode() == Opcodes.IO_WRITE && samePair(first, r)) {
                Namespace ns = validateFused(first, r);
                if (ns != null) {
                    ns.io().submitFused(new NamespaceIo.FusedPair(first, r));
                }
                return;
            }
            finish(first, Status.ABORTED_MISSING_FUSED);
        }
        if (fuse == Opcodes.FUSE_FIRST) {
            if (r.opcode() != Opcodes.IO_COMPARE) {
                finish(r, Status.INVALID_FIELD);
                return;
            }
            fusedFirst = r;
            return;
        }
        if (fuse == Opcodes.FUSE_SECOND) {
            finish(r, Status.ABORTED_MISSING_FUSED);
            return;
        }
        if (fuse != Opcodes.FUSE_NONE) {
            finish(r, Status.INVALID_FIELD);
            return;
        }
        int opcode = r.opcode();
        if (opcode == Opcodes.IO_FLUSH && r.nsid() == 0xFFFFFFFF) {
            target.flushAllFor(r, controller);
            return;
        }
        if (!isIoOpcode(opcode)) {
            finish(r, Status.INVALID_OPCODE);
            return;
        }
        Namespace ns = namespaceFor(r);
        if (ns == null) {
            return;
        }
        int status = validate(ns, r);
        if (status != Status.SUCCESS) {
            finish(r, status);
            return;
        }
        if (!controller.writeCacheEnabled() && (opcode == Opcodes.IO_WRITE || opcode == Opcodes.IO_WRITE_ZEROES)) {
            // With the volatile write cache off, every write must be durable when it completes.
            r.sqe().setIntLE(Sqe.CDW12_OFFSET, r.cdw(12) | (1 << 30));
        }
        ns.io().submit(r);
    }

    private static boolean isIoOpcode(int opcode) {
        return switch (opcode) {
            case Opcodes.IO_FLUSH, Opcodes.IO_WRITE, Opcodes.IO_READ, Opcodes.IO_COMPARE,
                 Opcodes.IO_WRITE_ZEROES, Opcodes.IO_DATASET_MANAGEMENT -> true;
            default -> false;
        };
    }

    private Namespace namespaceFor(NvmeRequest r) {
        Namespace ns = controller.namespace(r.nsid());
        if (ns == null) {
            finish(r, Status.INVALID_NAMESPACE);
            return null;
        }
        if (!ns.anaGroup().accessible()) {
            finish(r, Status.ANA_INACCESSIBLE);
            return null;
        }
        return ns;
    }

    /** Range and length checks; returns a status. */
    private static int validate(Namespace ns, NvmeRequest r) {
        int opcode = r.opcode();
        switch (opcode) {
            case Opcodes.IO_READ, Opcodes.IO_WRITE, Opcodes.IO_COMPARE, Opcodes.IO_WRITE_ZEROES -> {
                long slba = NamespaceIo.slba(r);
                int blocks = NamespaceIo.blocks(r);
                if (slba < 0 || slba + blocks > ns.blockCount()) {
                    return Status.LBA_OUT_OF_RANGE;
                }
                if (opcode != Opcodes.IO_WRITE_ZEROES) {
                    long expected = (long) blocks << ns.blockShift();
                    int direction = opcode == Opcodes.IO_READ ? NvmeRequest.DIR_C2H : NvmeRequest.DIR_H2C;
                    if (r.dataDirection() != direction || r.dataLength() != expected) {
                        return Status.SGL_DATA_LENGTH_INVALID;
                    }
                }
                return Status.SUCCESS;
            }
            case Opcodes.IO_DATASET_MANAGEMENT -> {
                int ranges = (r.cdw(10) & 0xFF) + 1;
                if (r.dataDirection() != NvmeRequest.DIR_H2C || r.dataLength() < ranges * 16) {
                    return Status.SGL_DATA_LENGTH_INVALID;
                }
                ByteBuf data = r.data();
                int base = data.readerIndex();
                for (int i = 0; i < ranges; i++) {
                    long blocks = data.getUnsignedIntLE(base + i * 16 + 4);
                    long slba = data.getLongLE(base + i * 16 + 8);
                    if (slba < 0 || slba + blocks > ns.blockCount()) {
                        return Status.LBA_OUT_OF_RANGE;
                    }
                }
                return Status.SUCCESS;
            }
            default -> {
                return Status.SUCCESS;
            }
        }
    }

    private static boolean samePair(NvmeRequest compare, NvmeRequest write) {
        return compare.nsid() == write.nsid()
                && NamespaceIo.slba(compare) == NamespaceIo.slba(write)
                && NamespaceIo.blocks(compare) == NamespaceIo.blocks(write);
    }

    private Namespace validateFused(NvmeRequest compare, NvmeRequest write) {
        Namespace ns = controller.namespace(compare.nsid());
        int status;
        if (ns == null) {
            status = Status.INVALID_NAMESPACE;
        } else if (!ns.anaGroup().accessible()) {
            status = Status.ANA_INACCESSIBLE;
        } else if (NamespaceIo.blocks(compare) > Target.ATOMIC_COMPARE_WRITE_BLOCKS) {
            status = Status.ATOMIC_WRITE_UNIT_EXCEEDED;
        } else {
            status = validate(ns, compare);
            if (status == Status.SUCCESS) {
                status = validate(ns, write);
            }
        }
        if (status != Status.SUCCESS) {
            finish(compare, status);
            finish(write, Status.ABORTED_FAILED_FUSED);
            return null;
        }
        if (!controller.writeCacheEnabled()) {
            write.sqe().setIntLE(Sqe.CDW12_OFFSET, write.cdw(12) | (1 << 30));
        }
        return ns;
    }
}
