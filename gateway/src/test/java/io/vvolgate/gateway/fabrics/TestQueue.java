package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.nvme.ConnectData;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Sqe;

import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A queue as a transport would drive it, without a wire: commands go in through {@link FabricsQueue#submit},
 * completions come back on a blocking queue. Buffers are heap buffers the test owns and releases.
 */
final class TestQueue implements QueueTransport, AutoCloseable {
    static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
    static final UUID HOST_ID = UUID.fromString("11111111-2222-3333-4444-555555555555");

    final FabricsQueue queue;
    final LinkedBlockingQueue<NvmeRequest> completions = new LinkedBlockingQueue<>();
    volatile String closedReason;
    private final Port port;
    private int nextCid = 1;

    TestQueue(Target target, Port port) {
        this.port = port;
        this.queue = target.accept(this);
    }

    @Override
    public void complete(NvmeRequest request) {
        completions.add(request);
    }

    @Override
    public void close(String reason) {
        closedReason = reason;
    }

    @Override
    public Port port() {
        return port;
    }

    @Override
    public String remoteAddress() {
        return "test";
    }

    @Override
    public int inCapsuleDataSize() {
        return 8192;
    }

    @Override
    public int maxDataTransferSize() {
        return 1 << 20;
    }

    /** A request with a fresh CID and opcode; callers set the other fields. */
    NvmeRequest command(int opcode, int nsid) {
        NvmeRequest r = new NvmeRequest(Unpooled.buffer(64, 64)).reset(this);
        r.sqe().writeZero(64);
        r.sqe().setByte(Sqe.OPCODE_OFFSET, opcode);
        r.sqe().setShortLE(Sqe.CID_OFFSET, nextCid++);
        r.sqe().setIntLE(Sqe.NSID_OFFSET, nsid);
        return r;
    }

    NvmeRequest cdw(NvmeRequest r, int n, int value) {
        r.sqe().setIntLE(n * 4, value);
        return r;
    }

    NvmeRequest withReadBuffer(NvmeRequest r, int length) {
        r.setData(Unpooled.buffer(length, length), length, NvmeRequest.DIR_C2H);
        return r;
    }

    NvmeRequest withWriteData(NvmeRequest r, byte[] data) {
        r.setData(Unpooled.wrappedBuffer(data), data.length, NvmeRequest.DIR_H2C);
        return r;
    }

    /** Submits and waits for the completion (which may come from a reactor thread). */
    NvmeRequest execute(NvmeRequest r) {
        queue.submit(r);
        return await();
    }

    NvmeRequest await() {
        try {
            NvmeRequest done = completions.poll(10, TimeUnit.SECONDS);
            if (done == null) {
                throw new AssertionError("no completion within 10 s");
            }
            return done;
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    NvmeRequest connect(String subNqn, int qid, int sqsize, int cntlid, int katoMs) {
        NvmeRequest r = command(Opcodes.FABRICS, 0);
        r.sqe().setByte(Sqe.FCTYPE_OFFSET, Opcodes.FCTYPE_CONNECT);
        r.sqe().setShortLE(Sqe.CONNECT_QID_OFFSET, qid);
        r.sqe().setShortLE(Sqe.CONNECT_SQSIZE_OFFSET, sqsize);
        r.sqe().setIntLE(Sqe.CONNECT_KATO_OFFSET, katoMs);
        ByteBuf data = Unpooled.buffer(ConnectData.SIZE).writeZero(ConnectData.SIZE);
        data.setLong(ConnectData.HOSTID_OFFSET, HOST_ID.getMostSignificantBits());
        data.setLong(ConnectData.HOSTID_OFFSET + 8, HOST_ID.getLeastSignificantBits());
        data.setShortLE(ConnectData.CNTLID_OFFSET, cntlid);
        data.setBytes(ConnectData.SUBNQN_OFFSET, subNqn.getBytes(StandardCharsets.US_ASCII));
        data.setBytes(ConnectData.HOSTNQN_OFFSET, HOST_NQN.getBytes(StandardCharsets.US_ASCII));
        r.setData(data, ConnectData.SIZE, NvmeRequest.DIR_H2C);
        return execute(r);
    }

    NvmeRequest propertySet(int offset, long value) {
        NvmeRequest r = command(Opcodes.FABRICS, 0);
        r.sqe().setByte(Sqe.FCTYPE_OFFSET, Opcodes.FCTYPE_PROPERTY_SET);
        r.sqe().setIntLE(Sqe.PROPERTY_OFST_OFFSET, offset);
        r.sqe().setLongLE(Sqe.PROPERTY_VALUE_OFFSET, value);
        return execute(r);
    }

    NvmeRequest propertyGet(int offset, boolean eightBytes) {
        NvmeRequest r = command(Opcodes.FABRICS, 0);
        r.sqe().setByte(Sqe.FCTYPE_OFFSET, Opcodes.FCTYPE_PROPERTY_GET);
        r.sqe().setByte(Sqe.PROPERTY_ATTRIB_OFFSET, eightBytes ? 1 : 0);
        r.sqe().setIntLE(Sqe.PROPERTY_OFST_OFFSET, offset);
        return execute(r);
    }

    @Override
    public void close() {
        queue.transportClosed();
    }
}
