package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.vvolgate.gateway.fabrics.FabricsQueue;
import io.vvolgate.gateway.fabrics.NvmeRequest;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.QueueAcceptor;
import io.vvolgate.gateway.fabrics.QueueTransport;
import io.vvolgate.gateway.io.DataBuffers;
import io.vvolgate.gateway.transport.tcp.TcpConnectionCounters.Counter;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * One NVMe/TCP connection: the state machine after {@link TcpPduDecoder}, and the {@link QueueTransport} the
 * core answers through.
 *
 * <p>Owns the connection's request pool ({@link NvmeRequest}s with their {@link TcpCommand} state, allocated
 * lazily up to {@link TcpTransportOptions#maxCommandsPerConnection()}), the buffers of commands not yet
 * submitted, and the PDUs held back while the pool is empty.
 *
 * <p>Thread: everything runs on the channel's event loop, except {@link #complete}, {@link #close},
 * {@link #quiesce}, {@link #resume} and the getters, which any thread may call. Completions are pushed on a
 * lock-free intrusive stack and drained by one task on the event loop, which answers the whole batch and
 * flushes once; commands that complete on the event loop while it reads (memory namespaces run to completion)
 * are drained at the end of that read batch instead, in {@code channelReadComplete}, with no task queued.
 *
 * <p>Connection states: {@code AWAIT_IC_REQ → RUNNING → TERMINATING (C2HTermReq sent or H2CTermReq received)
 * → CLOSED}. Request states: see {@link TcpCommand.State}.
 */
public final class TcpConnection extends ChannelInboundHandlerAdapter implements QueueTransport {
    private static final System.Logger LOG = System.getLogger(TcpConnection.class.getName());

    /** NVMe status field values (DNR(14) | SCT(10:8) | SC(7:0)) the transport answers by itself. */
    static final int STATUS_DNR = 1 << 14;
    static final int STATUS_INVALID_FIELD = 0x02 | STATUS_DNR;
    static final int STATUS_INTERNAL_ERROR = 0x06;
    static final int STATUS_DATA_SGL_LENGTH_INVALID = 0x0F | STATUS_DNR;
    static final int STATUS_SGL_DESCRIPTOR_TYPE_INVALID = 0x11 | STATUS_DNR;
    static final int STATUS_SGL_OFFSET_INVALID = 0x16 | STATUS_DNR;
    /** Retryable: a data digest failed, the host may resend. */
    static final int STATUS_TRANSIENT_TRANSPORT_ERROR = 0x22;

    enum State { AWAIT_IC_REQ, RUNNING, TERMINATING, CLOSED }

    private final QueueAcceptor acceptor;
    private final Port port;
    private final TcpTransportOptions options;
    private final Consumer<TcpConnection> onRetired;
    private final TcpConnectionCounters counters = new TcpConnectionCounters();
    private final CRC32C crc = new CRC32C();

    // Request pool: requests[i].transportContext is a TcpCommand with ttag i; freeStack holds free indices.
    private final NvmeRequest[] requests;
    private final int[] freeStack;
    private int freeCount;
    private int created;

    // Completions from any thread: an intrusive Treiber stack drained on the event loop.
    private final AtomicReference<TcpCommand> completedStack = new AtomicReference<>();
    private final AtomicBoolean drainScheduled = new AtomicBoolean();
    private final Runnable drainTask = this::drainCompletions;
    /** Between channelRead and channelReadComplete (event loop only). */
    private boolean inReadBatch;
    /** A completion during the read batch left the drain to channelReadComplete (event loop only). */
    private boolean drainAtReadComplete;

    /**
     * Answer batch size: capsule responses, C2HData headers and the data of small reads are appended to one
     * pooled buffer of this size instead of a buffer each, so a batch of 4 KiB reads costs one allocation per
     * seven reads and one iovec per buffer in the {@code writev}. 32 KiB is the largest size the pooled
     * allocator's thread cache keeps.
     */
    static final int BATCH_CAPACITY = 32 * 1024;
    /** Reads up to this many bytes are copied into the answer batch; larger ones go out as their own buffer. */
    static final int COPY_LIMIT = 16 * 1024;
    /** The answer batch being filled, or null (event loop only). Written before any other buffer and at each flush. */
    private ByteBuf batch;

    /** PDUs that arrived while a CapsuleCmd waits for a free request (or the connection is quiesced); in order. */
    private final ArrayDeque<Object> held = new ArrayDeque<>();

    private ChannelHandlerContext ctx;
    private Channel channel;
    private volatile EventExecutor executor;
    private volatile State state = State.AWAIT_IC_REQ;
    private FabricsQueue queue;
    private boolean headerDigest;
    private boolean dataDigest;
    private int hostDataAlignment = 4;
    private int maxR2t = 1;
    private int awaitingData;
    private long executing;
    private boolean quiesced;
    private boolean flushPending;
    private boolean retired;
    private volatile String closeReason;

    public TcpConnection(QueueAcceptor acceptor, Port port, TcpTransportOptions options) {
        this(acceptor, port, options, c -> { });
    }

    /**
     * @param onRetired called once on the event loop when the connection is closed and the core has
     *                  returned every request it held
     */
    public TcpConnection(QueueAcceptor acceptor, Port port, TcpTransportOptions options, Consumer<TcpConnection> onRetired) {
        this.acceptor = acceptor;
        this.port = port;
        this.options = options;
        this.onRetired = onRetired;
        this.requests = new NvmeRequest[options.maxCommandsPerConnection()];
        this.freeStack = new int[options.maxCommandsPerConnection()];
    }

    // ---------------------------------------------------------------------------------------------------
    // QueueTransport

    @Override
    public void complete(NvmeRequest request) {
        TcpCommand command = (TcpCommand) request.transportContext;
        TcpCommand head;
        do {
            head = completedStack.get();
            command.nextCompleted = head;
        } while (!completedStack.compareAndSet(head, command));
        if (drainScheduled.compareAndSet(false, true)) {
            EventExecutor loop = executor;
            if (inReadBatch && loop.inEventLoop()) {
                // Completed while this loop is reading (run to completion): the batch's channelReadComplete
                // drains, answers and flushes once, without a task through the loop's queue.
                drainAtReadComplete = true;
                return;
            }
            try {
                loop.execute(drainTask);
            } catch (RejectedExecutionException e) {
                // The event loop is gone (transport closed): nobody will answer, only release.
                drainScheduled.set(false);
                releaseCompletedOnCaller();
            }
        }
    }

    @Override
    public void close(String reason) {
        closeReason = reason;
        Channel ch = channel;
        if (ch != null) {
            LOG.log(System.Logger.Level.DEBUG, "closing NVMe/TCP connection {0}: {1}", remoteAddress(), reason);
            // Answers the core gave before closing (a Disconnect's own response) go out first.
            runOnLoop(() -> {
                if (state != State.CLOSED && state != State.TERMINATING) {
                    drainCompletions();
                }
                ch.close();
            });
        }
    }

    @Override
    public Port port() {
        return port;
    }

    @Override
    public String remoteAddress() {
        Channel ch = channel;
        SocketAddress address = ch == null ? null : ch.remoteAddress();
        if (address instanceof InetSocketAddress inet) {
            return inet.getHostString() + ":" + inet.getPort();
        }
        return String.valueOf(address);
    }

    @Override
    public int inCapsuleDataSize() {
        return options.inCapsuleDataSize();
    }

    @Override
    public int maxDataTransferSize() {
        return options.maxDataTransferSize();
    }

    // ---------------------------------------------------------------------------------------------------
    // Control from any thread

    /** Stops reading new commands (data for writes already started still flows). Any thread. */
    public void quiesce() {
        runOnLoop(() -> {
            quiesced = true;
            updateReading();
        });
    }

    /** Undoes {@link #quiesce}. Any thread. */
    public void resume() {
        runOnLoop(() -> {
            quiesced = false;
            processHeld();
            updateReading();
            flushIfPending();
        });
    }

    /** Commands submitted to the core and not yet completed. Any thread. */
    public long inFlight() {
        return counters.get(Counter.EXECUTING_NOW);
    }

    public TcpConnectionCounters counters() {
        return counters;
    }

    /** True once the channel closed. */
    public boolean isClosed() {
        return state == State.CLOSED;
    }

    private void runOnLoop(Runnable task) {
        EventExecutor loop = executor;
        if (loop == null) {
            return;
        }
        try {
            loop.execute(task);
        } catch (RejectedExecutionException e) {
            // event loop shut down: nothing left to control
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Channel events (event loop)

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.channel = ctx.channel();
        this.executor = ctx.executor();
        executor.schedule(this::closeIfNotConnected, options.connectTimeoutMillis(), TimeUnit.MILLISECONDS);
    }

    /** A host that has not finished ICReq and Connect in time gets no more: its socket is closed. */
    private void closeIfNotConnected() {
        if (state == State.CLOSED || state == State.TERMINATING) {
            return;
        }
        if (queue == null || queue.queueId() < 0) {
            counters.increment(Counter.CONNECT_TIMEOUTS);
            LOG.log(System.Logger.Level.INFO, "closing NVMe/TCP connection {0}: no ICReq and Connect within {1} ms",
                    remoteAddress(), options.connectTimeoutMillis());
            channel.close();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        inReadBatch = true;
        if (state == State.TERMINATING || state == State.CLOSED) {
            ReferenceCountUtil.release(msg);
            return;
        }
        // Only capsules wait for requests; data and term reqs concern commands already under way and
        // must not queue behind them (a write waiting for data holds a request the capsule may need).
        if (!held.isEmpty() && isCapsuleCmd(msg)) {
            held.addLast(msg);
            updateReading();
            return;
        }
        if (!process(msg)) {
            counters.increment(Counter.POOL_EXHAUSTED);
            held.addLast(msg);
            updateReading();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        inReadBatch = false;
        if (drainAtReadComplete) {
            drainAtReadComplete = false;
            drainCompletions(); // flushes
        } else {
            flushIfPending();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        updateReading();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.log(System.Logger.Level.DEBUG, "NVMe/TCP connection " + remoteAddress() + " failed; closing", cause);
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        releaseBatch();
        LOG.log(System.Logger.Level.DEBUG, "NVMe/TCP connection {0} closed{1}", remoteAddress(),
                closeReason == null ? "" : ": " + closeReason);
        Object msg;
        while ((msg = held.pollFirst()) != null) {
            ReferenceCountUtil.release(msg);
        }
        for (int i = 0; i < created; i++) {
            NvmeRequest request = requests[i];
            TcpCommand command = (TcpCommand) request.transportContext;
            switch (command.state) {
                case FREE -> request.releaseSqe();
                case AWAITING_DATA -> {
                    releaseData(request);
                    request.releaseSqe();
                }
                case EXECUTING -> { } // the core still holds it; released when it completes
            }
        }
        awaitingData = 0;
        counters.add(Counter.AWAITING_DATA_NOW, -counters.get(Counter.AWAITING_DATA_NOW));
        if (queue != null) {
            try {
                queue.transportClosed();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "core failed on transportClosed", e);
            }
        }
        drainCompletions();
        ctx.fireChannelInactive();
    }

    // ---------------------------------------------------------------------------------------------------
    // Inbound PDUs (event loop)

    /** Handles one decoded message; false if it must wait for a free request (ownership stays with the caller). */
    private boolean process(Object msg) {
        boolean consumed = true;
        try {
            if (msg instanceof ByteBuf pdu) {
                consumed = onPdu(pdu);
            } else if (msg instanceof PduFramingError error) {
                ByteBuf header = error.content();
                terminate(error.fes(), error.fei(), header, header.readableBytes());
            } else {
                LOG.log(System.Logger.Level.WARNING, "unexpected message {0}", msg);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "NVMe/TCP connection " + remoteAddress() + ": internal error; closing", e);
            state = State.TERMINATING;
            channel.close();
        } finally {
            if (consumed) {
                ReferenceCountUtil.release(msg);
            }
        }
        return consumed;
    }

    private boolean onPdu(ByteBuf pdu) {
        switch (PduHeader.type(pdu)) {
            case PduHeader.TYPE_IC_REQ -> onIcReq(pdu);
            case PduHeader.TYPE_CAPSULE_CMD -> {
                return onCapsuleCmd(pdu);
            }
            case PduHeader.TYPE_H2C_DATA -> onH2CData(pdu);
            case PduHeader.TYPE_H2C_TERM_REQ -> {
                counters.increment(Counter.TERM_REQS_RECEIVED);
                LOG.log(System.Logger.Level.DEBUG, "host {0} terminated the connection, FES {1}",
                        remoteAddress(), TermReqPdu.fes(pdu));
                state = State.TERMINATING;
                channel.close();
            }
            default -> terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.TYPE_OFFSET, pdu, headerLength(pdu));
        }
        return true;
    }

    private void onIcReq(ByteBuf pdu) {
        if (state != State.AWAIT_IC_REQ) {
            terminate(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, pdu, IcReqPdu.LENGTH);
            return;
        }
        if (IcReqPdu.pfv(pdu) != 0) {
            terminate(PduHeader.FES_UNSUPPORTED_PARAMETER, IcReqPdu.PFV_OFFSET, pdu, IcReqPdu.LENGTH);
            return;
        }
        int hpda = IcReqPdu.hpda(pdu);
        if (hpda > IcReqPdu.MAX_HPDA) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, IcReqPdu.HPDA_OFFSET, pdu, IcReqPdu.LENGTH);
            return;
        }
        int digest = IcReqPdu.digest(pdu) & (IcReqPdu.DIGEST_HEADER | IcReqPdu.DIGEST_DATA);
        headerDigest = (digest & IcReqPdu.DIGEST_HEADER) != 0;
        dataDigest = (digest & IcReqPdu.DIGEST_DATA) != 0;
        hostDataAlignment = (hpda + 1) * 4;
        maxR2t = (int) Math.min(IcReqPdu.maxR2t(pdu) + 1, options.maxR2tPerCommand());

        FabricsQueue accepted;
        try {
            accepted = acceptor.accept(this);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "target refused NVMe/TCP connection " + remoteAddress(), e);
            accepted = null;
        }
        if (accepted == null) {
            state = State.TERMINATING;
            channel.close();
            return;
        }
        queue = accepted;
        ByteBuf resp = alloc().directBuffer(IcRespPdu.LENGTH);
        IcRespPdu.write(resp, 0, digest, options.maxH2CData());
        write(resp);
        state = State.RUNNING;
    }

    /** False if no request is free (the PDU is kept by the caller and retried later). */
    private boolean onCapsuleCmd(ByteBuf pdu) {
        if (state != State.RUNNING) {
            terminate(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, pdu, CapsuleCmdPdu.HEADER_LENGTH);
            return true;
        }
        if (!checkHeaderDigest(pdu, CapsuleCmdPdu.HEADER_LENGTH)) {
            return true;
        }
        int base = pdu.readerIndex();
        int plen = (int) PduHeader.plen(pdu);
        int headerEnd = CapsuleCmdPdu.HEADER_LENGTH + digestLength(headerDigest);
        int pdo = 0;
        int icdLength = 0;
        if (plen > headerEnd) {
            pdo = PduHeader.pdo(pdu);
            if (!checkDataLayout(pdu, headerEnd, pdo, plen, CapsuleCmdPdu.HEADER_LENGTH)) {
                return true;
            }
            icdLength = plen - pdo - digestLength(dataDigest);
        } else if (plen < headerEnd) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET, pdu, CapsuleCmdPdu.HEADER_LENGTH);
            return true;
        }
        if (quiesced || !hasFreeRequest()) {
            return false;
        }
        boolean digestFailed = icdLength > 0 && dataDigest && !dataDigestMatches(pdu, base + pdo, icdLength);

        NvmeRequest request = takeRequest();
        TcpCommand command = (TcpCommand) request.transportContext;
        request.sqe().writeBytes(pdu, base + CapsuleCmdPdu.SQE_OFFSET, NvmeRequest.SQE_SIZE);
        counters.increment(Counter.COMMANDS_RECEIVED);
        if (digestFailed) {
            failByTransport(command, STATUS_TRANSIENT_TRANSPORT_ERROR);
            return true;
        }

        ByteBuf sqe = request.sqe();
        int opcode = sqe.getUnsignedByte(CapsuleCmdPdu.SQE_OPCODE_OFFSET);
        int direction = opcode == CapsuleCmdPdu.OPCODE_FABRICS
                ? sqe.getUnsignedByte(CapsuleCmdPdu.SQE_FCTYPE_OFFSET) & 3
                : opcode & 3;
        long sglLength = sqe.getUnsignedIntLE(CapsuleCmdPdu.SQE_SGL_LENGTH_OFFSET);
        int sglType = sqe.getUnsignedByte(CapsuleCmdPdu.SQE_SGL_TYPE_OFFSET);

        if (sglLength == 0) {
            if (icdLength != 0) {
                failByTransport(command, STATUS_DATA_SGL_LENGTH_INVALID);
            } else {
                submit(command);
            }
            return true;
        }
        if (sglLength > options.maxDataTransferSize()) {
            failByTransport(command, STATUS_DATA_SGL_LENGTH_INVALID);
            return true;
        }
        int length = (int) sglLength;
        if (direction == NvmeRequest.DIR_H2C) {
            if (sglType == CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET) {
                long offset = sqe.getLongLE(CapsuleCmdPdu.SQE_SGL_ADDRESS_OFFSET);
                // Written so that a huge offset cannot overflow past the check (offset + length would).
                if (offset < 0 || offset > options.inCapsuleDataSize() - length) {
                    failByTransport(command, STATUS_SGL_OFFSET_INVALID);
                } else if (offset + length > icdLength) {
                    failByTransport(command, STATUS_DATA_SGL_LENGTH_INVALID);
                } else {
                    request.setData(pdu.retainedSlice(base + pdo + (int) offset, length), length, NvmeRequest.DIR_H2C);
                    submit(command);
                }
            } else if (sglType == CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK) {
                if (icdLength != 0) {
                    failByTransport(command, STATUS_INVALID_FIELD);
                    return true;
                }
                request.setData(DataBuffers.ALLOCATOR.directBuffer(length, length), length, NvmeRequest.DIR_H2C);
                command.state = TcpCommand.State.AWAITING_DATA;
                command.requested = 0;
                command.received = 0;
                command.dataDigestFailed = false;
                awaitingData++;
                counters.increment(Counter.AWAITING_DATA_NOW);
                sendR2ts(command);
            } else {
                failByTransport(command, STATUS_SGL_DESCRIPTOR_TYPE_INVALID);
            }
        } else if (direction == NvmeRequest.DIR_C2H) {
            if (sglType != CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK) {
                failByTransport(command, STATUS_SGL_DESCRIPTOR_TYPE_INVALID);
            } else if (icdLength != 0) {
                failByTransport(command, STATUS_INVALID_FIELD);
            } else {
                request.setData(DataBuffers.ALLOCATOR.directBuffer(length, length), length, NvmeRequest.DIR_C2H);
                submit(command);
            }
        } else {
            // A length on a command that moves no data, or a bidirectional command.
            failByTransport(command, STATUS_INVALID_FIELD);
        }
        return true;
    }

    private void onH2CData(ByteBuf pdu) {
        if (state != State.RUNNING) {
            terminate(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        if (!checkHeaderDigest(pdu, H2CDataPdu.HEADER_LENGTH)) {
            return;
        }
        int base = pdu.readerIndex();
        int plen = (int) PduHeader.plen(pdu);
        int headerEnd = H2CDataPdu.HEADER_LENGTH + digestLength(headerDigest);
        int pdo = PduHeader.pdo(pdu);
        if (plen <= headerEnd) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        if (!checkDataLayout(pdu, headerEnd, pdo, plen, H2CDataPdu.HEADER_LENGTH)) {
            return;
        }
        int pduDataLength = plen - pdo - digestLength(dataDigest);
        int ttag = H2CDataPdu.ttag(pdu);
        if (ttag >= created) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.TTAG_OFFSET, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        TcpCommand command = (TcpCommand) requests[ttag].transportContext;
        if (command.state != TcpCommand.State.AWAITING_DATA) {
            // No R2T is outstanding under this tag: data nobody asked for.
            terminate(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        NvmeRequest request = command.request;
        if (H2CDataPdu.cccid(pdu) != request.cid()) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.CCCID_OFFSET, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        long dataLength = H2CDataPdu.dataLength(pdu);
        if (dataLength > options.maxH2CData()) {
            terminate(PduHeader.FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        if (dataLength != pduDataLength) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.DATAL_OFFSET, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        long dataOffset = H2CDataPdu.dataOffset(pdu);
        if (dataOffset != command.received || dataOffset + dataLength > command.requested) {
            terminate(PduHeader.FES_DATA_TRANSFER_OUT_OF_RANGE, 0, pdu, H2CDataPdu.HEADER_LENGTH);
            return;
        }
        if (dataDigest && !dataDigestMatches(pdu, base + pdo, pduDataLength)) {
            command.dataDigestFailed = true;
        }
        request.data().writeBytes(pdu, base + pdo, pduDataLength);
        command.received += pduDataLength;
        counters.increment(Counter.H2C_DATA_PDUS);

        if (command.received == request.dataLength()) {
            awaitingData--;
            counters.add(Counter.AWAITING_DATA_NOW, -1);
            if (command.dataDigestFailed) {
                failByTransport(command, STATUS_TRANSIENT_TRANSPORT_ERROR);
            } else {
                submit(command);
            }
            updateReading();
        } else {
            sendR2ts(command);
        }
    }

    /** Checks the HDGSTF flag against what was negotiated and the header digest itself; terminates on error. */
    private boolean checkHeaderDigest(ByteBuf pdu, int hlen) {
        boolean flagged = (PduHeader.flags(pdu) & PduHeader.FLAG_HDGSTF) != 0;
        if (flagged != headerDigest) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.FLAGS_OFFSET, pdu, hlen);
            return false;
        }
        if (headerDigest) {
            if (PduHeader.plen(pdu) < hlen + PduHeader.DIGEST_LENGTH) {
                terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET, pdu, hlen);
                return false;
            }
            int base = pdu.readerIndex();
            int expected = PduHeader.crc32c(crc, pdu, base, hlen);
            if (pdu.getIntLE(base + hlen) != expected) {
                counters.increment(Counter.HEADER_DIGEST_ERRORS);
                terminate(PduHeader.FES_HEADER_DIGEST_ERROR, 0, pdu, hlen);
                return false;
            }
        }
        return true;
    }

    /** Checks PDO and the DDGSTF flag of a PDU that carries data; terminates on error. */
    private boolean checkDataLayout(ByteBuf pdu, int headerEnd, int pdo, int plen, int hlen) {
        // CPDA is 0: data may start right after the header (and its digest), dword aligned.
        if (pdo < headerEnd || (pdo & 3) != 0 || pdo + digestLength(dataDigest) >= plen) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PDO_OFFSET, pdu, hlen);
            return false;
        }
        boolean flagged = (PduHeader.flags(pdu) & PduHeader.FLAG_DDGSTF) != 0;
        if (flagged != dataDigest) {
            terminate(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.FLAGS_OFFSET, pdu, hlen);
            return false;
        }
        return true;
    }

    private boolean dataDigestMatches(ByteBuf pdu, int dataIndex, int dataLength) {
        int expected = PduHeader.crc32c(crc, pdu, dataIndex, dataLength);
        if (pdu.getIntLE(dataIndex + dataLength) == expected) {
            return true;
        }
        counters.increment(Counter.DATA_DIGEST_ERRORS);
        return false;
    }

    private void sendR2ts(TcpCommand command) {
        NvmeRequest request = command.request;
        int length = request.dataLength();
        int chunk = options.maxH2CData();
        while (command.requested < length && outstandingR2ts(command, chunk) < maxR2t) {
            int n = Math.min(chunk, length - command.requested);
            ByteBuf r2t = alloc().directBuffer(R2tPdu.HEADER_LENGTH + digestLength(headerDigest));
            R2tPdu.write(r2t, request.cid(), command.ttag, command.requested, n, headerDigest, crc);
            write(r2t);
            command.requested += n;
            counters.increment(Counter.R2TS_SENT);
        }
    }

    /** R2T windows are consecutive {@code chunk}-sized ranges from offset 0 and are filled in order. */
    private static int outstandingR2ts(TcpCommand command, int chunk) {
        int issued = (command.requested + chunk - 1) / chunk;
        int done = command.received == command.requested ? issued : command.received / chunk;
        return issued - done;
    }

    /**
     * Sends a C2HTermReq carrying {@code errorLength} bytes of the offending header, then closes the connection
     * once it is written. Everything received afterwards is dropped.
     */
    private void terminate(int fes, int fei, ByteBuf offending, int errorLength) {
        if (state == State.TERMINATING || state == State.CLOSED) {
            return;
        }
        state = State.TERMINATING;
        counters.increment(Counter.TERM_REQS_SENT);
        LOG.log(System.Logger.Level.INFO, "NVMe/TCP connection {0}: fatal transport error FES {1} FEI {2}; terminating",
                remoteAddress(), fes, fei);
        int copy = Math.min(Math.min(errorLength, offending.readableBytes()), TermReqPdu.MAX_ERROR_DATA);
        ByteBuf term = alloc().directBuffer(TermReqPdu.HEADER_LENGTH + copy);
        TermReqPdu.write(term, PduHeader.TYPE_C2H_TERM_REQ, fes, fei, offending, offending.readerIndex(), copy);
        channel.config().setAutoRead(false);
        flushPending = false;
        writeBatch(); // answers already made go out before the TermReq
        ctx.writeAndFlush(term).addListener(ChannelFutureListener.CLOSE);
    }

    private static boolean isCapsuleCmd(Object msg) {
        return msg instanceof ByteBuf pdu && PduHeader.type(pdu) == PduHeader.TYPE_CAPSULE_CMD;
    }

    private static int headerLength(ByteBuf pdu) {
        return Math.max(PduHeader.LENGTH, PduHeader.hlen(pdu));
    }

    // ---------------------------------------------------------------------------------------------------
    // Submission and completion (event loop)

    private void submit(TcpCommand command) {
        command.state = TcpCommand.State.EXECUTING;
        counters.increment(Counter.COMMANDS_SUBMITTED);
        counters.increment(Counter.EXECUTING_NOW);
        try {
            queue.submit(command.request);
        } catch (RuntimeException e) {
            // The core refused to take it: it is still ours, answer it as an internal error.
            LOG.log(System.Logger.Level.WARNING, "core failed to take a command", e);
            command.request.setStatus(STATUS_INTERNAL_ERROR);
            command.request.complete();
        }
    }

    /** Answers a command the transport rejects itself; it never reaches the core. */
    private void failByTransport(TcpCommand command, int status) {
        NvmeRequest request = command.request;
        request.setStatus(status);
        request.setQueueFields(0, queue == null ? 0 : Math.max(queue.queueId(), 0));
        counters.increment(Counter.COMMANDS_FAILED_BY_TRANSPORT);
        sendAnswer(request);
        recycle(command);
    }

    private void drainCompletions() {
        drainAtReadComplete = false;
        drainScheduled.set(false);
        TcpCommand stack = completedStack.getAndSet(null);
        TcpCommand fifo = null;
        while (stack != null) {
            TcpCommand next = stack.nextCompleted;
            stack.nextCompleted = fifo;
            fifo = stack;
            stack = next;
        }
        while (fifo != null) {
            TcpCommand next = fifo.nextCompleted;
            fifo.nextCompleted = null;
            onCompleted(fifo);
            fifo = next;
        }
        if (state == State.CLOSED) {
            if (!retired && counters.get(Counter.EXECUTING_NOW) == 0) {
                retired = true;
                onRetired.accept(this);
            }
            return;
        }
        processHeld();
        updateReading();
        flushIfPending();
    }

    private void onCompleted(TcpCommand command) {
        NvmeRequest request = command.request;
        if (command.state != TcpCommand.State.EXECUTING) {
            LOG.log(System.Logger.Level.WARNING, "command {0} completed while {1}; ignored", request.cid(), command.state);
            return;
        }
        counters.increment(Counter.COMMANDS_COMPLETED);
        counters.add(Counter.EXECUTING_NOW, -1);
        if (state == State.CLOSED || state == State.TERMINATING) {
            if (state == State.CLOSED) {
                command.state = TcpCommand.State.FREE;
                releaseData(request);
                request.releaseSqe();
            } else {
                releaseData(request);
                recycle(command);
            }
            return;
        }
        sendAnswer(request);
        recycle(command);
    }

    /** Writes C2H data (for a successful read) and the CQE, and releases the request's data. */
    private void sendAnswer(NvmeRequest request) {
        boolean sendResponse = true;
        ByteBuf data = request.data();
        if (request.dataDirection() == NvmeRequest.DIR_C2H && data != null && request.dataLength() > 0
                && request.succeeded()) {
            boolean successFlag = queue != null && queue.sqFlowControlDisabled();
            writeC2HData(request, data, successFlag);
            sendResponse = !successFlag;
        }
        if (sendResponse) {
            CapsuleRespPdu.write(batchFor(CapsuleRespPdu.HEADER_LENGTH + digestLength(headerDigest)), request.result0(),
                    request.result1(), request.sqHead(), request.sqId(), request.cid(), request.status(), headerDigest, crc);
            counters.increment(Counter.CAPSULE_RESPONSES_SENT);
        }
        releaseData(request);
    }

    private void writeC2HData(NvmeRequest request, ByteBuf data, boolean successFlag) {
        int length = request.dataLength();
        int chunk = options.c2hChunkSize();
        int pdo = PduHeader.dataOffset(C2HDataPdu.HEADER_LENGTH, headerDigest, hostDataAlignment);
        int digestLength = digestLength(dataDigest);
        boolean copy = length <= COPY_LIMIT;
        for (int offset = 0; offset < length; offset += chunk) {
            int n = Math.min(chunk, length - offset);
            boolean last = offset + n == length;
            int flags = last ? PduHeader.FLAG_LAST_PDU | (successFlag ? PduHeader.FLAG_SUCCESS : 0) : 0;
            if (copy) {
                // Small: header, data and digest appended to the answer batch (one copy of a few KiB costs less
                // than two more buffers and iovecs).
                ByteBuf out = batchFor(pdo + n + digestLength);
                C2HDataPdu.writeHeader(out, flags, request.cid(), 0, offset, n, pdo, headerDigest, dataDigest, crc);
                int at = out.writerIndex();
                out.writeBytes(data, data.readerIndex() + offset, n);
                if (dataDigest) {
                    out.writeIntLE(PduHeader.crc32c(crc, out, at, n));
                }
            } else {
                C2HDataPdu.writeHeader(batchFor(pdo), flags, request.cid(), 0, offset, n, pdo, headerDigest, dataDigest, crc);
                // All data in one PDU: the buffer itself goes out (one more reference, no slice).
                ByteBuf slice = offset == 0 && n == data.readableBytes() ? data.retain()
                        : data.retainedSlice(data.readerIndex() + offset, n);
                int digest = dataDigest ? PduHeader.crc32c(crc, slice, slice.readerIndex(), n) : 0;
                write(slice);
                if (dataDigest) {
                    batchFor(PduHeader.DIGEST_LENGTH).writeIntLE(digest);
                }
            }
            counters.increment(Counter.C2H_DATA_PDUS);
        }
    }

    private void releaseCompletedOnCaller() {
        TcpCommand stack = completedStack.getAndSet(null);
        while (stack != null) {
            TcpCommand next = stack.nextCompleted;
            stack.nextCompleted = null;
            stack.state = TcpCommand.State.FREE;
            releaseData(stack.request);
            stack.request.releaseSqe();
            counters.add(Counter.EXECUTING_NOW, -1);
            counters.increment(Counter.COMMANDS_COMPLETED);
            stack = next;
        }
    }

    private static void releaseData(NvmeRequest request) {
        ByteBuf data = request.data();
        if (data != null) {
            request.setData(null, 0, NvmeRequest.DIR_NONE);
            data.release();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Pool, held PDUs, reading (event loop)

    private boolean hasFreeRequest() {
        return freeCount > 0 || created < requests.length;
    }

    private NvmeRequest takeRequest() {
        NvmeRequest request;
        if (freeCount > 0) {
            request = requests[freeStack[--freeCount]];
        } else {
            request = new NvmeRequest(alloc().directBuffer(NvmeRequest.SQE_SIZE, NvmeRequest.SQE_SIZE));
            request.transportContext = new TcpCommand(created, request);
            requests[created++] = request;
        }
        request.reset(this);
        return request;
    }

    private void recycle(TcpCommand command) {
        releaseData(command.request);
        command.state = TcpCommand.State.FREE;
        freeStack[freeCount++] = command.ttag;
    }

    /** Retries PDUs held back for want of a request, in arrival order. */
    private void processHeld() {
        Object msg;
        while (state == State.RUNNING && (msg = held.peekFirst()) != null) {
            if (!process(msg)) {
                return;
            }
            held.pollFirst();
        }
        if (state != State.RUNNING) {
            while ((msg = held.pollFirst()) != null) {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    /**
     * Reads while new commands can be taken: a free request, no held PDUs, not quiesced, the socket writable.
     * A connection with writes waiting for H2CData keeps reading regardless (else those writes and the
     * requests they hold would never finish), unless too many PDUs are already held.
     */
    private void updateReading() {
        if (state != State.RUNNING && state != State.AWAIT_IC_REQ) {
            return;
        }
        boolean takeCommands = !quiesced && held.isEmpty() && hasFreeRequest() && channel.isWritable();
        boolean want = held.size() < requests.length && (takeCommands || awaitingData > 0);
        if (channel.config().isAutoRead() != want) {
            channel.config().setAutoRead(want);
            if (!want) {
                counters.increment(Counter.READ_PAUSES);
            }
        }
    }

    /** Writes {@code buf} after whatever the answer batch holds. */
    private void write(ByteBuf buf) {
        writeBatch();
        ctx.write(buf, ctx.voidPromise());
        flushPending = true;
    }

    /** The answer batch with room for {@code bytes} more, starting a new one (and writing the full one) if needed. */
    private ByteBuf batchFor(int bytes) {
        ByteBuf b = batch;
        if (b == null || b.writableBytes() < bytes) {
            writeBatch();
            b = batch = alloc().directBuffer(Math.max(bytes, BATCH_CAPACITY));
        }
        flushPending = true;
        return b;
    }

    /** Hands the answer batch, if any, to the channel (not flushed). */
    private void writeBatch() {
        ByteBuf b = batch;
        if (b != null) {
            batch = null;
            ctx.write(b, ctx.voidPromise());
        }
    }

    private void flushIfPending() {
        if (state == State.CLOSED) {
            releaseBatch();
            return;
        }
        if (flushPending) {
            flushPending = false;
            writeBatch();
            counters.increment(Counter.FLUSHES);
            ctx.flush();
        }
    }

    private void releaseBatch() {
        ByteBuf b = batch;
        if (b != null) {
            batch = null;
            b.release();
        }
    }

    private ByteBufAllocator alloc() {
        return ctx.alloc();
    }

    private static int digestLength(boolean enabled) {
        return enabled ? PduHeader.DIGEST_LENGTH : 0;
    }

    @Override
    public String toString() {
        return "TcpConnection[" + remoteAddress() + ", " + state + "]";
    }
}
