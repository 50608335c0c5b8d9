package io.vvolgate.gateway.host;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.vvolgate.gateway.nvme.ConnectData;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Sqe;
import io.vvolgate.gateway.transport.tcp.C2HDataPdu;
import io.vvolgate.gateway.transport.tcp.CapsuleCmdPdu;
import io.vvolgate.gateway.transport.tcp.CapsuleRespPdu;
import io.vvolgate.gateway.transport.tcp.H2CDataPdu;
import io.vvolgate.gateway.transport.tcp.IcReqPdu;
import io.vvolgate.gateway.transport.tcp.IcRespPdu;
import io.vvolgate.gateway.transport.tcp.PduHeader;
import io.vvolgate.gateway.transport.tcp.R2tPdu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.zip.CRC32C;

/**
 * One NVMe/TCP queue as a host sees it, on a Netty channel: ICReq/ICResp, then pipelined commands with
 * their data (in-capsule when it fits the controller's IOCCSZ, otherwise H2CData answering R2Ts; C2HData
 * for reads) and their completions. This is the host library's fast form, for load generation,
 * replication and tests; {@link NvmeTcpQueue} is the simple blocking one.
 *
 * <p><b>Threads.</b> Everything mutable here is owned by the channel's event loop ({@link #eventLoop()}).
 * The I/O submitters ({@link #read}, {@link #write}, {@link #submit}) and {@link #flush()} must be called
 * on that event loop, typically from a {@link CompletionHandler} (which always runs there) or from a task
 * given to {@code eventLoop().execute(..)}. {@link #execute} (admin and setup commands, allocating) and
 * {@link #close()} may be called from any thread; {@link #open} and the blocking helpers must not be
 * called on an event loop thread.
 *
 * <p><b>Command slots.</b> The queue has {@code depth} pre-allocated slots, indexed by CID; a submitter
 * returns false when all are busy (backpressure is a return value, nothing is queued). A slot is freed
 * before its handler runs, so a handler may submit the next command at once.
 *
 * <p><b>Batching.</b> Submitters append PDUs to one pooled direct buffer and do not flush; call
 * {@link #flush()} after a batch. Completions read in one socket read are followed by one automatic flush,
 * so handlers that resubmit need not flush.
 *
 * <p><b>Allocation.</b> In steady state a read or write allocates nothing on the heap: the slots, the
 * CRC32C and the handler are pre-allocated, outbound buffers come from the pooled allocator (whose
 * buffer objects are recycled), and writes use the void promise.
 */
public final class AsyncNvmeTcpQueue implements AutoCloseable {

    /**
     * Told that a command completed. Runs on the queue's event loop; must not block. Implement it once
     * (for example on a per-queue worker) rather than passing a capturing lambda per command, which would
     * allocate.
     */
    @FunctionalInterface
    public interface CompletionHandler {
        /**
         * @param tag     the value given at submission
         * @param status  the 15-bit NVMe status (0 = success), or {@link #STATUS_CONNECTION_LOST}
         * @param result0 CQE dword 0
         */
        void onCompletion(AsyncNvmeTcpQueue queue, long tag, int status, int result0);
    }

    /** What came back for a command sent with {@link #execute}: CQE fields and the C2H data, if any. */
    public record Completion(int status, int result0, int result1, byte[] data) {
        public boolean ok() {
            return (status & 0x7FF) == 0;
        }
    }

    /** What the controller offered in ICResp. */
    public record Negotiated(int maxH2CData, boolean headerDigest, boolean dataDigest, int cpda) {
    }

    /** Status given to handlers of commands outstanding when the connection closed or failed. */
    public static final int STATUS_CONNECTION_LOST = -1;

    /** MAXR2T we send in ICReq, 0's based: up to 16 outstanding R2Ts per command. */
    private static final int MAX_R2T = 15;
    /** Size of an outbound batch buffer; bigger PDUs get a buffer of their own size. */
    private static final int OUT_CHUNK = 64 * 1024;
    private static final long SETUP_TIMEOUT_SECONDS = 30;

    /** One command in flight, indexed by CID. Touched only by the event loop. */
    private static final class Slot {
        final int cid;
        boolean busy;
        CompletionHandler handler;
        long tag;
        /** Write data (retained while in flight), or null. */
        ByteBuf source;
        int sourceIndex;
        /** Read destination (retained while in flight), or null to discard the data. */
        ByteBuf destination;
        int destinationIndex;
        int length;
        int c2hReceived;
        /** Set for {@link #execute} commands only. */
        CompletableFuture<Completion> future;

        Slot(int cid) {
            this.cid = cid;
        }
    }

    private final Channel channel;
    private final ByteBufAllocator alloc;
    private final Slot[] slots;
    private final int[] free;
    private int freeCount;
    private final CRC32C crc = new CRC32C();
    private final boolean wantHeaderDigest;
    private final boolean wantDataDigest;
    private final CompletableFuture<Negotiated> icResp = new CompletableFuture<>();
    private Negotiated negotiated;
    private boolean headerDigest;
    private boolean dataDigest;
    private int h2cAlignment = 4;
    private int inCapsuleLimit = 0;
    private ByteBuf out;
    private boolean unflushed;
    private volatile boolean open = true;
    private volatile Throwable failure;
    private long submitted;
    private long completed;

    private AsyncNvmeTcpQueue(Channel channel, int depth, boolean headerDigest, boolean dataDigest) {
        this.channel = channel;
        this.alloc = channel.alloc();
        this.wantHeaderDigest = headerDigest;
        this.wantDataDigest = dataDigest;
        this.slots = new Slot[depth];
        this.free = new int[depth];
        for (int i = 0; i < depth; i++) {
            slots[i] = new Slot(i);
            free[depth - 1 - i] = i;
        }
        this.freeCount = depth;
    }

    /** The Netty channel class for {@code group}: epoll when the group runs epoll, NIO otherwise. */
    static Class<? extends SocketChannel> channelClass(EventLoopGroup group) {
        return group instanceof io.netty.channel.IoEventLoopGroup g && g.isIoType(EpollIoHandler.class)
                ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    /**
     * Connects and exchanges ICReq/ICResp. Blocking; not on an event loop thread.
     *
     * @param depth command slots (the most commands in flight at once), 1..65535
     */
    public static AsyncNvmeTcpQueue open(EventLoopGroup group, String address, int port, int depth,
                                         boolean headerDigest, boolean dataDigest) throws IOException {
        if (depth < 1 || depth > 0xFFFF) {
            throw new IllegalArgumentException("depth must be in 1..65535: " + depth);
        }
        AsyncNvmeTcpQueue[] created = new AsyncNvmeTcpQueue[1];
        Bootstrap b = new Bootstrap()
                .group(group)
                .channel(channelClass(group))
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        AsyncNvmeTcpQueue q = new AsyncNvmeTcpQueue(ch, depth, headerDigest, dataDigest);
                        created[0] = q;
                        ch.pipeline().addLast(q.new Inbound());
                    }
                });
        ChannelFuture f = b.connect(address, port);
        try {
            if (!f.await(10, TimeUnit.SECONDS) || !f.isSuccess()) {
                f.channel().close();
                throw new IOException("cannot connect to " + address + ":" + port, f.cause());
            }
            AsyncNvmeTcpQueue q = created[0];
            q.negotiated = await(q.icResp, "ICResp");
            return q;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.channel().close();
            throw new IOException("interrupted while connecting", e);
        } catch (IOException e) {
            f.channel().close();
            throw e;
        }
    }

    private static <T> T await(CompletableFuture<T> future, String what) throws IOException {
        try {
            return future.get(SETUP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for " + what, e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(what + " failed", e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("no " + what + " within " + SETUP_TIMEOUT_SECONDS + " s", e);
        }
    }

    public EventLoop eventLoop() {
        return channel.eventLoop();
    }

    public Negotiated negotiated() {
        return negotiated;
    }

    /** Command slots: the most commands this queue keeps in flight. */
    public int depth() {
        return slots.length;
    }

    /** Free command slots. Event loop only. */
    public int freeSlots() {
        return freeCount;
    }

    /** Commands submitted / completed so far. Event loop only (a plain read elsewhere may be stale). */
    public long submitted() {
        return submitted;
    }

    public long completed() {
        return completed;
    }

    public boolean isOpen() {
        return open;
    }

    /** Why the connection failed, or null. */
    public Throwable failure() {
        return failure;
    }

    /** Writes up to this many bytes go in the capsule; 0 sends every write's data by R2T. Any thread, before I/O. */
    public void setInCapsuleLimit(int bytes) {
        this.inCapsuleLimit = bytes;
    }

    // --- the I/O path (event loop only) ---

    /**
     * Reads {@code blocks} logical blocks at {@code slba} of {@code nsid}, {@code length} bytes in all, into
     * {@code destination} at {@code destinationIndex} (indices untouched; null discards the data).
     * Returns false, doing nothing, when no slot is free or the queue is closed.
     */
    public boolean read(int nsid, long slba, int blocks, int length, ByteBuf destination, int destinationIndex,
                        CompletionHandler handler, long tag) {
        return start(Opcodes.IO_READ, nsid, slba, blocks, null, 0, length, destination, destinationIndex, handler, tag);
    }

    /**
     * Writes {@code length} bytes of {@code source} at {@code sourceIndex} (indices untouched) to
     * {@code blocks} logical blocks at {@code slba}. The source is retained until the command completes and
     * must not change meanwhile. Returns false, doing nothing, when no slot is free or the queue is closed.
     */
    public boolean write(int nsid, long slba, int blocks, ByteBuf source, int sourceIndex, int length,
                         CompletionHandler handler, long tag) {
        return start(Opcodes.IO_WRITE, nsid, slba, blocks, source, sourceIndex, length, null, 0, handler, tag);
    }

    private boolean start(int opcode, int nsid, long slba, int blocks, ByteBuf source, int sourceIndex, int length,
                          ByteBuf destination, int destinationIndex, CompletionHandler handler, long tag) {
        assert channel.eventLoop().inEventLoop();
        if (freeCount == 0 || !open) {
            return false;
        }
        Slot s = slots[free[--freeCount]];
        ByteBuf o = beginCapsule(s, source, length);
        int sqe = o.writerIndex() - 64;
        o.setByte(sqe + Sqe.OPCODE_OFFSET, opcode);
        o.setIntLE(sqe + Sqe.NSID_OFFSET, nsid);
        o.setLongLE(sqe + Sqe.CDW10_OFFSET, slba);
        o.setIntLE(sqe + Sqe.CDW12_OFFSET, blocks - 1);
        endCapsule(s, o, sqe, handler, tag, source, sourceIndex, length, destination, destinationIndex);
        return true;
    }

    /**
     * Submits a command given as a 64-byte SQE at {@code sqe}'s reader index (the CID and SGL are filled in
     * here), with {@code length} bytes of data from {@code source} (a write-type command) or into
     * {@code destination} (a read-type command; null discards), or none. Returns false when no slot is
     * free or the queue is closed.
     */
    public boolean submit(ByteBuf sqe, ByteBuf source, int sourceIndex, int length, ByteBuf destination,
                          int destinationIndex, CompletionHandler handler, long tag) {
        assert channel.eventLoop().inEventLoop();
        if (freeCount == 0 || !open) {
            return false;
        }
        Slot s = slots[free[--freeCount]];
        ByteBuf o = beginCapsule(s, source, length);
        int at = o.writerIndex() - 64;
        o.setBytes(at, sqe, sqe.readerIndex(), 64);
        endCapsule(s, o, at, handler, tag, source, sourceIndex, length, destination, destinationIndex);
        return true;
    }

    /** Appends the capsule header and 64 zero SQE bytes; endCapsule fills in CID, SGL and data. */
    private ByteBuf beginCapsule(Slot s, ByteBuf source, int length) {
        boolean inCapsule = source != null && length <= inCapsuleLimit;
        int inData = inCapsule ? length : 0;
        int headerEnd = CapsuleCmdPdu.HEADER_LENGTH + (headerDigest ? PduHeader.DIGEST_LENGTH : 0);
        int pdo = inData > 0 ? PduHeader.dataOffset(CapsuleCmdPdu.HEADER_LENGTH, headerDigest, h2cAlignment) : 0;
        boolean dd = dataDigest && inData > 0;
        int plen = inData > 0 ? pdo + inData + (dd ? PduHeader.DIGEST_LENGTH : 0) : headerEnd;
        ByteBuf o = outbound(plen);
        s.c2hReceived = inData > 0 ? -1 : 0; // remembers "in capsule" until endCapsule
        PduHeader.write(o, PduHeader.TYPE_CAPSULE_CMD,
                (headerDigest ? PduHeader.FLAG_HDGSTF : 0) | (dd ? PduHeader.FLAG_DDGSTF : 0),
                CapsuleCmdPdu.HEADER_LENGTH, pdo, plen);
        o.writeZero(64);
        return o;
    }

    private void endCapsule(Slot s, ByteBuf o, int sqe, CompletionHandler handler, long tag, ByteBuf source,
                            int sourceIndex, int length, ByteBuf destination, int destinationIndex) {
        boolean inCapsule = s.c2hReceived < 0;
        s.c2hReceived = 0;
        o.setShortLE(sqe + Sqe.CID_OFFSET, s.cid);
        o.setLongLE(sqe + Sqe.SGL1_ADDRESS_OFFSET, 0);
        o.setIntLE(sqe + Sqe.SGL1_LENGTH_OFFSET, length);
        o.setByte(sqe + Sqe.SGL1_TYPE_OFFSET, inCapsule
                ? CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET : CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK);
        int pduStart = sqe - CapsuleCmdPdu.SQE_OFFSET;
        if (headerDigest) {
            PduHeader.writeHeaderDigest(o, pduStart, CapsuleCmdPdu.HEADER_LENGTH, crc);
        }
        if (inCapsule) {
            int pdo = o.getUnsignedByte(pduStart + PduHeader.PDO_OFFSET);
            o.writeZero(pdo - (o.writerIndex() - pduStart));
            o.writeBytes(source, sourceIndex, length);
            if (dataDigest) {
                o.writeIntLE(PduHeader.crc32c(crc, source, sourceIndex, length));
            }
        }
        s.busy = true;
        s.handler = handler;
        s.tag = tag;
        s.length = length;
        s.source = inCapsule || source == null ? null : source.retain();
        s.sourceIndex = sourceIndex;
        s.destination = destination == null ? null : destination.retain();
        s.destinationIndex = destinationIndex;
        submitted++;
        unflushed = true;
    }

    /** The batch buffer, with room for {@code bytes} more; a full one is handed to the channel (not flushed). */
    private ByteBuf outbound(int bytes) {
        ByteBuf o = out;
        if (o != null && o.capacity() - o.writerIndex() >= bytes) {
            return o;
        }
        if (o != null) {
            channel.write(o, channel.voidPromise());
        }
        o = alloc.directBuffer(Math.max(OUT_CHUNK, bytes));
        out = o;
        return o;
    }

    /** Sends what the submitters appended. Event loop only. */
    public void flush() {
        assert channel.eventLoop().inEventLoop();
        if (!unflushed) {
            return;
        }
        unflushed = false;
        ByteBuf o = out;
        out = null;
        if (o != null) {
            if (o.isReadable()) {
                channel.write(o, channel.voidPromise());
            } else {
                o.release();
            }
        }
        channel.flush();
    }

    // --- admin and setup commands (any thread, allocating) ---

    /**
     * Sends {@code sqe} (64 bytes; CID and SGL are filled in) with {@code h2c} as its data (null if none),
     * expecting {@code c2hLength} bytes back. Any thread; allocates, so not for the I/O path.
     */
    public CompletableFuture<Completion> execute(byte[] sqe, byte[] h2c, int c2hLength) {
        CompletableFuture<Completion> f = new CompletableFuture<>();
        if (channel.eventLoop().inEventLoop()) {
            executeOnLoop(sqe, h2c, c2hLength, f);
        } else {
            channel.eventLoop().execute(() -> executeOnLoop(sqe, h2c, c2hLength, f));
        }
        return f;
    }

    private void executeOnLoop(byte[] sqe, byte[] h2c, int c2hLength, CompletableFuture<Completion> f) {
        if (!open) {
            f.completeExceptionally(new IOException("the connection is closed", failure));
            return;
        }
        if (freeCount == 0) {
            f.completeExceptionally(new IllegalStateException("all " + slots.length + " command slots are busy"));
            return;
        }
        ByteBuf sqeBuf = io.netty.buffer.Unpooled.wrappedBuffer(sqe);
        ByteBuf source = h2c == null ? null : io.netty.buffer.Unpooled.wrappedBuffer(h2c);
        ByteBuf destination = c2hLength > 0 ? io.netty.buffer.Unpooled.buffer(c2hLength, c2hLength) : null;
        Slot s = slots[free[freeCount - 1]];
        submit(sqeBuf, source, 0, h2c != null ? h2c.length : c2hLength, destination, 0, null, 0);
        s.future = f;
        if (source != null) {
            source.release();
        }
        if (destination != null) {
            destination.release(); // the slot holds its own reference
        }
        flush();
    }

    /** Executes and waits; not on an event loop thread. */
    public Completion executeAndWait(byte[] sqe, byte[] h2c, int c2hLength) throws IOException {
        return await(execute(sqe, h2c, c2hLength), "completion");
    }

    /** A 64-byte SQE with {@code opcode} and {@code nsid} (little-endian fields to fill in with {@link #putLe}). */
    public static byte[] sqe(int opcode, int nsid) {
        byte[] b = new byte[64];
        b[Sqe.OPCODE_OFFSET] = (byte) opcode;
        putLe(b, Sqe.NSID_OFFSET, nsid, 4);
        return b;
    }

    /** Stores the low {@code bytes} bytes of {@code value} little-endian at {@code offset}. */
    public static void putLe(byte[] b, int offset, long value, int bytes) {
        for (int i = 0; i < bytes; i++) {
            b[offset + i] = (byte) (value >>> (8 * i));
        }
    }

    /** Fabrics Connect: QID 0 creates a controller (CNTLID FFFFh), other QIDs join {@code cntlid}. Blocking. */
    public Completion connect(String subNqn, String hostNqn, UUID hostId, int qid, int queueSize, int cntlid,
                              int katoMs) throws IOException {
        byte[] c = sqe(Opcodes.FABRICS, 0);
        c[Sqe.FCTYPE_OFFSET] = (byte) Opcodes.FCTYPE_CONNECT;
        putLe(c, Sqe.CONNECT_QID_OFFSET, qid, 2);
        putLe(c, Sqe.CONNECT_SQSIZE_OFFSET, queueSize - 1, 2);
        putLe(c, Sqe.CONNECT_KATO_OFFSET, katoMs, 4);
        byte[] data = new byte[ConnectData.SIZE];
        for (int i = 0; i < 8; i++) {
            data[ConnectData.HOSTID_OFFSET + i] = (byte) (hostId.getMostSignificantBits() >>> (56 - 8 * i));
            data[ConnectData.HOSTID_OFFSET + 8 + i] = (byte) (hostId.getLeastSignificantBits() >>> (56 - 8 * i));
        }
        putLe(data, ConnectData.CNTLID_OFFSET, cntlid, 2);
        byte[] sub = subNqn.getBytes(StandardCharsets.UTF_8);
        byte[] host = hostNqn.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(sub, 0, data, ConnectData.SUBNQN_OFFSET, Math.min(sub.length, ConnectData.NQN_FIELD_LENGTH));
        System.arraycopy(host, 0, data, ConnectData.HOSTNQN_OFFSET, Math.min(host.length, ConnectData.NQN_FIELD_LENGTH));
        return executeAndWait(c, data, 0);
    }

    /** Fabrics Property Get. Blocking. */
    public Completion propertyGet(int offset, boolean eightBytes) throws IOException {
        byte[] c = sqe(Opcodes.FABRICS, 0);
        c[Sqe.FCTYPE_OFFSET] = (byte) Opcodes.FCTYPE_PROPERTY_GET;
        c[Sqe.PROPERTY_ATTRIB_OFFSET] = (byte) (eightBytes ? 1 : 0);
        putLe(c, Sqe.PROPERTY_OFST_OFFSET, offset, 4);
        return executeAndWait(c, null, 0);
    }

    /** Fabrics Property Set. Blocking. */
    public Completion propertySet(int offset, long value) throws IOException {
        byte[] c = sqe(Opcodes.FABRICS, 0);
        c[Sqe.FCTYPE_OFFSET] = (byte) Opcodes.FCTYPE_PROPERTY_SET;
        putLe(c, Sqe.PROPERTY_OFST_OFFSET, offset, 4);
        putLe(c, Sqe.PROPERTY_VALUE_OFFSET, value, 8);
        return executeAndWait(c, null, 0);
    }

    // --- receiving (event loop) ---

    /**
     * Frames PDUs and handles each in place (no slices, no messages passed on). Per the Netty model it
     * returns without consuming on an incomplete PDU; never shared.
     */
    private final class Inbound extends ByteToMessageDecoder {
        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            ByteBuf icreq = ctx.alloc().directBuffer(IcReqPdu.LENGTH);
            IcReqPdu.write(icreq, 0, 0,
                    (wantHeaderDigest ? IcReqPdu.DIGEST_HEADER : 0) | (wantDataDigest ? IcReqPdu.DIGEST_DATA : 0), MAX_R2T);
            ctx.writeAndFlush(icreq, ctx.voidPromise());
            super.channelActive(ctx);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> unused) throws Exception {
            while (in.readableBytes() >= PduHeader.LENGTH) {
                long plen = PduHeader.plen(in);
                int hlen = PduHeader.hlen(in);
                if (plen < PduHeader.LENGTH || plen < hlen || plen > (64L << 20)) {
                    throw new IOException("PDU with bad PLEN " + plen + " (type " + PduHeader.type(in) + ")");
                }
                if (in.readableBytes() < plen) {
                    return;
                }
                onPdu(in, hlen, (int) plen);
                in.skipBytes((int) plen);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
            flush();
            super.channelReadComplete(ctx);
        }

        @Override
        protected void handlerRemoved0(ChannelHandlerContext ctx) {
            releaseOutbound();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            fail(new IOException("the connection closed"));
            super.channelInactive(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(cause);
            ctx.close();
        }
    }

    private void onPdu(ByteBuf in, int hlen, int plen) throws IOException {
        int type = PduHeader.type(in);
        int flags = PduHeader.flags(in);
        int start = in.readerIndex();
        if (type == PduHeader.TYPE_IC_RESP) {
            onIcResp(in);
            return;
        }
        if ((flags & PduHeader.FLAG_HDGSTF) != 0
                && in.getIntLE(start + hlen) != PduHeader.crc32c(crc, in, start, hlen)) {
            throw new IOException("header digest mismatch on PDU type " + type);
        }
        switch (type) {
            case PduHeader.TYPE_CAPSULE_RESP -> {
                Slot s = busySlot(CapsuleRespPdu.cid(in), "CapsuleResp");
                complete(s, CapsuleRespPdu.status(in), CapsuleRespPdu.result0(in), CapsuleRespPdu.result1(in));
            }
            case PduHeader.TYPE_C2H_DATA -> onC2HData(in, flags);
            case PduHeader.TYPE_R2T -> onR2T(in);
            case PduHeader.TYPE_C2H_TERM_REQ -> throw new IOException("controller sent C2HTermReq, FES "
                    + in.getUnsignedShortLE(start + 8) + " FEI " + in.getUnsignedIntLE(start + 10));
            default -> throw new IOException("unexpected PDU type " + type);
        }
    }

    private void onIcResp(ByteBuf in) throws IOException {
        if (icResp.isDone()) {
            throw new IOException("a second ICResp");
        }
        int digest = IcRespPdu.digest(in);
        headerDigest = (digest & IcReqPdu.DIGEST_HEADER) != 0;
        dataDigest = (digest & IcReqPdu.DIGEST_DATA) != 0;
        h2cAlignment = (IcRespPdu.cpda(in) + 1) * 4;
        icResp.complete(new Negotiated((int) IcRespPdu.maxH2CData(in), headerDigest, dataDigest, IcRespPdu.cpda(in)));
    }

    private Slot busySlot(int cid, String pdu) throws IOException {
        if (cid >= slots.length || !slots[cid].busy) {
            throw new IOException(pdu + " for CID " + cid + ", which is not in flight");
        }
        return slots[cid];
    }

    private void onC2HData(ByteBuf in, int flags) throws IOException {
        Slot s = busySlot(C2HDataPdu.cccid(in), "C2HData");
        long offset = C2HDataPdu.dataOffset(in);
        long length = C2HDataPdu.dataLength(in);
        int pdo = PduHeader.pdo(in);
        if (offset != s.c2hReceived || offset + length > s.length) {
            throw new IOException("C2HData for CID " + s.cid + " at " + offset + "+" + length + ", expected "
                    + s.c2hReceived + " of " + s.length);
        }
        int data = in.readerIndex() + pdo;
        if ((flags & PduHeader.FLAG_DDGSTF) != 0
                && in.getIntLE(data + (int) length) != PduHeader.crc32c(crc, in, data, (int) length)) {
            throw new IOException("data digest mismatch for CID " + s.cid);
        }
        if (s.destination != null) {
            s.destination.setBytes(s.destinationIndex + (int) offset, in, data, (int) length);
        }
        s.c2hReceived += (int) length;
        if ((flags & PduHeader.FLAG_SUCCESS) != 0) {
            complete(s, 0, 0, 0);
        }
    }

    private void onR2T(ByteBuf in) throws IOException {
        Slot s = busySlot(R2tPdu.cccid(in), "R2T");
        int ttag = R2tPdu.ttag(in);
        long offset = R2tPdu.offset(in);
        long length = R2tPdu.length(in);
        if (s.source == null || offset + length > s.length) {
            throw new IOException("R2T for CID " + s.cid + " at " + offset + "+" + length + " of " + s.length);
        }
        int max = negotiated.maxH2CData();
        int pdo = PduHeader.dataOffset(H2CDataPdu.HEADER_LENGTH, headerDigest, h2cAlignment);
        for (int done = 0; done < length; ) {
            int n = (int) Math.min(max, length - done);
            int at = (int) offset + done;
            boolean last = done + n == length;
            ByteBuf o = outbound(pdo + n + (dataDigest ? PduHeader.DIGEST_LENGTH : 0));
            H2CDataPdu.writeHeader(o, last ? PduHeader.FLAG_LAST_PDU : 0, s.cid, ttag, at, n, pdo,
                    headerDigest, dataDigest, crc);
            o.writeBytes(s.source, s.sourceIndex + at, n);
            if (dataDigest) {
                o.writeIntLE(PduHeader.crc32c(crc, s.source, s.sourceIndex + at, n));
            }
            done += n;
        }
        unflushed = true;
    }

    private void complete(Slot s, int status, int result0, int result1) {
        CompletionHandler handler = s.handler;
        long tag = s.tag;
        CompletableFuture<Completion> future = s.future;
        byte[] data = null;
        if (future != null && s.destination != null) {
            data = new byte[s.c2hReceived];
            s.destination.getBytes(s.destinationIndex, data);
        }
        clear(s);
        completed++;
        if (future != null) {
            future.complete(new Completion(status, result0, result1, data));
        } else if (handler != null) {
            handler.onCompletion(this, tag, status, result0);
        }
    }

    /** Releases what the slot holds and frees it. */
    private void clear(Slot s) {
        if (s.source != null) {
            s.source.release();
            s.source = null;
        }
        if (s.destination != null) {
            s.destination.release();
            s.destination = null;
        }
        s.handler = null;
        s.future = null;
        s.busy = false;
        free[freeCount++] = s.cid;
    }

    private void fail(Throwable cause) {
        if (!open) {
            return;
        }
        failure = cause;
        open = false;
        IOException lost = cause instanceof IOException io ? io : new IOException(cause);
        icResp.completeExceptionally(lost);
        for (Slot s : slots) {
            if (s.busy) {
                CompletionHandler handler = s.handler;
                CompletableFuture<Completion> future = s.future;
                long tag = s.tag;
                clear(s);
                if (future != null) {
                    future.completeExceptionally(lost);
                } else if (handler != null) {
                    handler.onCompletion(this, tag, STATUS_CONNECTION_LOST, 0);
                }
            }
        }
        releaseOutbound();
    }

    private void releaseOutbound() {
        if (out != null) {
            out.release();
            out = null;
        }
    }

    /** Closes the connection; commands in flight complete with {@link #STATUS_CONNECTION_LOST}. Any thread. */
    @Override
    public void close() {
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    /** The event loop group the host library uses by default: epoll when available, else NIO. */
    static EventLoopGroup newEventLoopGroup(int threads) {
        return newEventLoopGroup(threads, false);
    }

    /**
     * Event loops for queues: epoll where available (else NIO). With {@code busyPoll} the epoll loops spin on
     * {@code epoll_wait} without a timeout instead of sleeping, as SPDK's polled initiator does: each loop then
     * takes a whole core, and no completion waits for a thread wake-up.
     */
    public static EventLoopGroup newEventLoopGroup(int threads, boolean busyPoll) {
        if (!io.netty.channel.epoll.Epoll.isAvailable()) {
            return new io.netty.channel.MultiThreadIoEventLoopGroup(threads, io.netty.channel.nio.NioIoHandler.newFactory());
        }
        return new io.netty.channel.MultiThreadIoEventLoopGroup(threads, busyPoll
                ? EpollIoHandler.newFactory(0, () -> (selectSupplier, hasTasks) -> io.netty.channel.SelectStrategy.BUSY_WAIT)
                : EpollIoHandler.newFactory());
    }
}
