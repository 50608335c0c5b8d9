package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.AdaptiveByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.Subsystem;
import io.vvolgate.gateway.fabrics.Target;
import io.vvolgate.gateway.nvme.ConnectData;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Sqe;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * The target's per-I/O path without a socket: decode → execute → encode. Encoded CapsuleCmd PDUs (4 KiB Read,
 * 4 KiB Write with in-capsule data) go into a connection's real pipeline ({@link TcpPduDecoder} →
 * {@link TcpConnection} → queue pair → namespace → memory device) on an {@link EmbeddedChannel}; the answers
 * (C2HData + CapsuleResp) come out of it and are released. Memory namespaces run to completion on the
 * connection's thread, so the whole path runs on the benchmark thread.
 *
 * <pre>
 *  benchmark thread: pooled copy of the PDU ─> fireChannelRead ─> decoder ─> TcpConnection ─> QueuePair
 *                    ─> NamespaceIo ─> MemoryBlockDevice ─> complete ─> drain task ─> C2HData/CapsuleResp
 *                    ─> outbound queue ─> release
 * </pre>
 *
 * Run with {@code -prof gc}: {@code gc.alloc.rate.norm} is the heap allocated per I/O (B/op), which should be
 * about 0. The PDU copied in per operation comes from the pooled allocator, as a socket read's buffer would. The
 * benchmark runs on a Netty-style thread ({@link EventLoopLikeExecutor}), as the connection does in the appliance.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
        "-Dio.netty.leakDetection.level=disabled", "-Djmh.executor=CUSTOM",
        "-Djmh.executor.class=io.vvolgate.gateway.transport.tcp.EventLoopLikeExecutor"})
public class TcpPathBenchmark {
    static final String NQN = "nqn.2026-11.io.vvolgate:jmh";
    static final String HOST_NQN = "nqn.2014-08.io.vvolgate:host:jmh";
    static final UUID HOST_ID = UUID.fromString("11111111-2222-3333-4444-555555555555");
    static final Port PORT = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);
    static final int BLOCK = 4096;
    static final int SPAN = 4096; // 4 KiB blocks cycled through: 16 MiB

    /** The connection's allocator: pooled (what TcpTransport uses) or Netty 4.2's default adaptive one. */
    @Param({"pooled", "adaptive"})
    public String allocator;

    private ByteBufAllocator alloc;
    private final CRC32C crc = new CRC32C();
    private Target target;
    private MemoryBlockDevice device;
    private EmbeddedChannel admin;
    private EmbeddedChannel io;
    private ChannelPipeline ioPipeline;
    private ByteBuf readPdu;
    private ByteBuf writePdu;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        alloc = allocator.equals("pooled") ? PooledByteBufAllocator.DEFAULT : new AdaptiveByteBufAllocator();
        device = new MemoryBlockDevice(64L << 20, 512);
        target = new Target(1);
        Subsystem s = target.addSubsystem(NQN, "JMH", "vvolgate jmh", true, List.of());
        target.addNamespace(s, 1, device, 512, new byte[16], UUID.randomUUID(), 1);
        TcpTransportOptions options = TcpTransportOptions.defaults();

        admin = channel(options);
        int cntlid = connect(admin, 0, 0xFFFF);
        ByteBuf set = sqe(Opcodes.FABRICS, 2, 0);
        set.setByte(Sqe.FCTYPE_OFFSET, Opcodes.FCTYPE_PROPERTY_SET);
        set.setIntLE(Sqe.PROPERTY_OFST_OFFSET, Properties.CC);
        set.setLongLE(Sqe.PROPERTY_VALUE_OFFSET, 1 | (6 << 16) | (4 << 20));
        answer(admin, capsule(set, null));

        io = channel(options);
        connect(io, 1, cntlid);
        ioPipeline = io.pipeline();

        ByteBuf read = sqe(Opcodes.IO_READ, 7, 1);
        read.setIntLE(Sqe.SGL1_LENGTH_OFFSET, BLOCK);
        read.setByte(Sqe.SGL1_TYPE_OFFSET, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK);
        read.setIntLE(Sqe.CDW12_OFFSET, BLOCK / 512 - 1);
        readPdu = capsule(read, null);

        ByteBuf write = sqe(Opcodes.IO_WRITE, 8, 1);
        write.setIntLE(Sqe.SGL1_LENGTH_OFFSET, BLOCK);
        write.setByte(Sqe.SGL1_TYPE_OFFSET, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET);
        write.setIntLE(Sqe.CDW12_OFFSET, BLOCK / 512 - 1);
        byte[] data = new byte[BLOCK];
        for (int i = 0; i < BLOCK; i++) {
            data[i] = (byte) (i * 31);
        }
        writePdu = capsule(write, data);
        // Every block read has been written once, so reads copy real data (not the zero fill of a hole).
        for (int i = 0; i < SPAN; i++) {
            write();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        io.finishAndReleaseAll();
        admin.finishAndReleaseAll();
        target.close();
        device.close();
        readPdu.release();
        writePdu.release();
    }

    /** One 4 KiB Read: CapsuleCmd in; C2HData (header + data) and CapsuleResp out. Returns the bytes answered. */
    @Benchmark
    public int read() {
        return roundTrip(readPdu);
    }

    /** One 4 KiB Write with in-capsule data: CapsuleCmd + data in; CapsuleResp out. */
    @Benchmark
    public int write() {
        return roundTrip(writePdu);
    }

    private int roundTrip(ByteBuf template) {
        int lba = (next++ & (SPAN - 1)) * (BLOCK / 512);
        template.setIntLE(CapsuleCmdPdu.SQE_OFFSET + Sqe.CDW10_OFFSET, lba);
        int length = template.readableBytes();
        ByteBuf in = alloc.directBuffer(length, length);
        in.writeBytes(template, template.readerIndex(), length);
        ioPipeline.fireChannelRead(in);
        ioPipeline.fireChannelReadComplete();
        io.runPendingTasks();
        int bytes = 0;
        Object out;
        while ((out = io.readOutbound()) != null) {
            bytes += ((ByteBuf) out).readableBytes();
            ReferenceCountUtil.release(out);
        }
        if (bytes == 0) {
            throw new IllegalStateException("no answer");
        }
        return bytes;
    }

    private EmbeddedChannel channel(TcpTransportOptions options) {
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAllocator(alloc);
        ch.pipeline().addLast(new TcpPduDecoder(options), new TcpConnection(target, PORT, options));
        ByteBuf icReq = alloc.directBuffer(128);
        IcReqPdu.write(icReq, 0, 0, 0, 0);
        ch.writeInbound(icReq);
        ch.runPendingTasks();
        ReferenceCountUtil.release(ch.readOutbound());
        return ch;
    }

    /** Fabrics Connect for queue {@code qid}; returns the controller ID. */
    private int connect(EmbeddedChannel ch, int qid, int cntlid) {
        ByteBuf sqe = sqe(Opcodes.FABRICS, 1, 0);
        sqe.setByte(Sqe.FCTYPE_OFFSET, Opcodes.FCTYPE_CONNECT);
        sqe.setShortLE(Sqe.CONNECT_QID_OFFSET, qid);
        sqe.setShortLE(Sqe.CONNECT_SQSIZE_OFFSET, 127);
        sqe.setIntLE(Sqe.SGL1_LENGTH_OFFSET, ConnectData.SIZE);
        sqe.setByte(Sqe.SGL1_TYPE_OFFSET, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET);
        byte[] data = new byte[ConnectData.SIZE];
        ByteBuf d = Unpooled.wrappedBuffer(data).clear();
        d.setLong(ConnectData.HOSTID_OFFSET, HOST_ID.getMostSignificantBits());
        d.setLong(ConnectData.HOSTID_OFFSET + 8, HOST_ID.getLeastSignificantBits());
        d.setShortLE(ConnectData.CNTLID_OFFSET, cntlid);
        d.setBytes(ConnectData.SUBNQN_OFFSET, NQN.getBytes(StandardCharsets.US_ASCII));
        d.setBytes(ConnectData.HOSTNQN_OFFSET, HOST_NQN.getBytes(StandardCharsets.US_ASCII));
        ByteBuf resp = answer(ch, capsule(sqe, data));
        int status = resp.getUnsignedShortLE(resp.readerIndex() + CapsuleRespPdu.STATUS_OFFSET) >>> 1;
        int id = resp.getUnsignedShortLE(resp.readerIndex() + CapsuleRespPdu.DW0_OFFSET);
        resp.release();
        if (status != 0) {
            throw new IllegalStateException("connect of queue " + qid + " failed, status 0x" + Integer.toHexString(status));
        }
        return id;
    }

    private ByteBuf answer(EmbeddedChannel ch, ByteBuf pdu) {
        ch.writeInbound(pdu);
        ch.runPendingTasks();
        ByteBuf resp = ch.readOutbound();
        if (resp == null) {
            throw new IllegalStateException("no answer");
        }
        return resp;
    }

    private static ByteBuf sqe(int opcode, int cid, int nsid) {
        ByteBuf b = Unpooled.buffer(64, 64).writeZero(64);
        b.setByte(Sqe.OPCODE_OFFSET, opcode);
        b.setShortLE(Sqe.CID_OFFSET, cid);
        if (opcode != Opcodes.FABRICS) {
            b.setIntLE(Sqe.NSID_OFFSET, nsid);
        }
        return b;
    }

    private ByteBuf capsule(ByteBuf sqe, byte[] data) {
        ByteBuf b = alloc.directBuffer();
        int length = data == null ? 0 : data.length;
        CapsuleCmdPdu.writeHeader(b, sqe, 0, length, false, false, 4, crc);
        if (length > 0) {
            b.writeBytes(data);
        }
        return b;
    }
}
