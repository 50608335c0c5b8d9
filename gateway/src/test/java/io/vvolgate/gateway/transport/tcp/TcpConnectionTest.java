package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.transport.tcp.TcpConnectionCounters.Counter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class TcpConnectionTest {
    static final int READ = 0x02;
    static final int WRITE = 0x01;
    static final Port PORT = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);

    FakeTarget target = new FakeTarget();
    TcpTransportOptions options = TcpTransportOptions.defaults();
    TcpConnection connection;
    EmbeddedChannel channel;
    TestHost host = new TestHost();

    void open() {
        connection = new TcpConnection(target, PORT, options);
        channel = new EmbeddedChannel(new TcpPduDecoder(options), connection);
    }

    /** Opens the connection and completes ICReq/ICResp with the host's digest settings. */
    void connect() {
        open();
        channel.writeInbound(host.icReq());
        ByteBuf resp = host.receive(channel).next();
        assertNotNull(resp);
        assertEquals(PduHeader.TYPE_IC_RESP, PduHeader.type(resp));
    }

    @AfterEach
    void tearDown() {
        if (channel != null) {
            channel.close();
            for (FakeTarget.Queue q : target.queues) {
                q.answerHeld();
            }
            channel.runPendingTasks();
            channel.finishAndReleaseAll();
        }
    }

    static ByteBuf bytes(int... values) {
        ByteBuf b = Unpooled.directBuffer(values.length);
        for (int v : values) {
            b.writeByte(v);
        }
        return b;
    }

    /** Asserts the host received exactly one C2HTermReq with this FES/FEI, quoting the offending header, and the channel closed. */
    void assertTerminated(int fes, long fei, ByteBuf offendingHeaderPrefix) {
        ByteBuf term = host.receive(channel).next();
        assertNotNull(term, "expected a C2HTermReq");
        assertEquals(PduHeader.TYPE_C2H_TERM_REQ, PduHeader.type(term));
        assertEquals(TermReqPdu.HEADER_LENGTH, PduHeader.hlen(term));
        assertEquals(fes, TermReqPdu.fes(term), "FES");
        assertEquals(fei, TermReqPdu.fei(term), "FEI");
        int quoted = (int) PduHeader.plen(term) - TermReqPdu.HEADER_LENGTH;
        assertTrue(quoted >= 8 && quoted <= 128, "quotes the offending header: " + quoted);
        if (offendingHeaderPrefix != null) {
            int n = Math.min(quoted, offendingHeaderPrefix.readableBytes());
            assertTrue(ByteBufUtil.equals(offendingHeaderPrefix, offendingHeaderPrefix.readerIndex(), term,
                    TermReqPdu.HEADER_LENGTH, n), "quoted header matches");
        }
        assertNull(host.next(), "nothing after the C2HTermReq");
        assertFalse(channel.isOpen(), "connection closed");
        assertEquals(1, connection.counters().get(Counter.TERM_REQS_SENT));
    }

    static ByteBuf copyOf(ByteBuf pdu) {
        byte[] b = new byte[pdu.readableBytes()];
        pdu.getBytes(pdu.readerIndex(), b);
        return Unpooled.wrappedBuffer(b);
    }

    // ------------------------------------------------------------------------------------------------

    @Test
    void icReqFromLinuxHostGetsIcRespWithOurLimits() {
        open();
        // What the Linux host sends: PFV 0, HPDA 0, no digests, MAXR2T 0 (one R2T per command).
        byte[] icreq = new byte[128];
        icreq[0] = 0x00;
        icreq[2] = (byte) 128;
        icreq[4] = (byte) 128;
        channel.writeInbound(Unpooled.wrappedBuffer(icreq));

        ByteBuf resp = host.receive(channel).next();
        byte[] expected = new byte[128];
        expected[0] = 0x01;
        expected[2] = (byte) 128;
        expected[4] = (byte) 128;
        expected[14] = 0x02; // MAXH2CDATA 0x00020000 = 128 KiB, little-endian
        assertArrayEquals(expected, ByteBufUtil.getBytes(resp));
        assertEquals(1, target.queues.size());
        assertTrue(channel.isOpen());
    }

    @Test
    void icReqAskingForDigestsGetsThemEchoed() {
        host = new TestHost(true, true);
        connect();
        // (connect() checked the type; the digest byte is checked through the PDUs that follow)
        channel.writeInbound(host.capsule(TestHost.connectSqe(1), new byte[1024]));
        ByteBuf resp = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(PduHeader.FLAG_HDGSTF, PduHeader.flags(resp));
        assertEquals(28, PduHeader.plen(resp));
        assertTrue(host.headerDigestOk(resp));
    }

    @Test
    void icRespCarriesNegotiatedDigestBits() {
        open();
        channel.writeInbound(TestHost.icReq(0, 0, 3, 0));
        ByteBuf resp = host.receive(channel).next();
        assertEquals(3, IcRespPdu.digest(resp));
        assertEquals(0, IcRespPdu.cpda(resp));
        assertEquals(0, IcRespPdu.pfv(resp));
        assertEquals(128 * 1024, IcRespPdu.maxH2CData(resp));
    }

    @Test
    void refusedQueueClosesWithoutIcResp() {
        target.refuse = true;
        open();
        channel.writeInbound(host.icReq());
        assertNull(host.receive(channel).next());
        assertFalse(channel.isOpen());
    }

    @Test
    void connectWithInCapsuleDataIsSubmittedAndAnswered() {
        connect();
        byte[] connectData = FakeTarget.pattern(100, 1024);
        channel.writeInbound(host.capsule(TestHost.connectSqe(0x1234), connectData));

        FakeTarget.Queue q = target.queue();
        assertEquals(1, q.submittedCids.size());
        assertArrayEquals(connectData, q.writeData.getFirst());
        ByteBuf resp = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(24, PduHeader.plen(resp));
        assertEquals(0x1234, CapsuleRespPdu.cid(resp));
        assertEquals(0, CapsuleRespPdu.status(resp));
        assertEquals(0x11223344, CapsuleRespPdu.result0(resp));
        assertEquals(0x55667788, CapsuleRespPdu.result1(resp));
        assertEquals(7, CapsuleRespPdu.sqHead(resp));
        assertEquals(1, CapsuleRespPdu.sqId(resp));
        assertEquals(0, resp.getByte(22) & 1, "phase tag 0");
        assertEquals(1, connection.counters().get(Counter.COMMANDS_RECEIVED));
    }

    @Test
    void commandWithoutDataIsSubmittedWithNoBuffer() {
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(0x00, 9, 0, 0), null)); // Flush
        assertEquals(1, target.queue().submittedCids.size());
        ByteBuf resp = host.receive(channel).next();
        assertEquals(9, CapsuleRespPdu.cid(resp));
    }

    @Test
    void write256KiBArrivesThroughR2tAndSeveralH2CDataPdus() {
        connect();
        int length = 256 * 1024;
        byte[] data = FakeTarget.pattern(3, length);
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 42, length, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));

        // MAXR2T 0 → one R2T at a time, each at most MAXH2CDATA (128 KiB).
        ByteBuf r2t = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_R2T, PduHeader.type(r2t));
        assertEquals(42, R2tPdu.cccid(r2t));
        assertEquals(0, R2tPdu.offset(r2t));
        assertEquals(128 * 1024, R2tPdu.length(r2t));
        assertNull(host.next());
        int ttag = R2tPdu.ttag(r2t);

        // The first window in four 32 KiB PDUs.
        for (int i = 0; i < 4; i++) {
            int off = i * 32 * 1024;
            channel.writeInbound(host.h2cData(42, ttag, off, Arrays.copyOfRange(data, off, off + 32 * 1024), i == 3));
            if (i < 3) {
                assertNull(host.receive(channel).next(), "no new R2T before the window is complete");
            }
        }
        r2t = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_R2T, PduHeader.type(r2t));
        assertEquals(128 * 1024, R2tPdu.offset(r2t));
        assertEquals(128 * 1024, R2tPdu.length(r2t));
        assertTrue(target.queue().submittedCids.isEmpty(), "not submitted before all data is in");

        // The second window in one PDU.
        channel.writeInbound(host.h2cData(42, ttag, 128 * 1024, Arrays.copyOfRange(data, 128 * 1024, length), true));
        assertEquals(1, target.queue().submittedCids.size());
        assertArrayEquals(data, target.queue().writeData.getFirst());
        ByteBuf resp = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(42, CapsuleRespPdu.cid(resp));
        assertEquals(0, CapsuleRespPdu.status(resp));
        assertEquals(2, connection.counters().get(Counter.R2TS_SENT));
        assertEquals(5, connection.counters().get(Counter.H2C_DATA_PDUS));
    }

    @Test
    void hostMaxR2tAllowsSeveralOutstandingR2ts() {
        open();
        channel.writeInbound(TestHost.icReq(0, 0, 0, 2)); // MAXR2T 2 → three at a time
        host.receive(channel).next();
        int length = 512 * 1024;
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 5, length, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        host.receive(channel);
        for (int i = 0; i < 3; i++) {
            ByteBuf r2t = host.next();
            assertEquals(PduHeader.TYPE_R2T, PduHeader.type(r2t));
            assertEquals(i * 128 * 1024L, R2tPdu.offset(r2t));
        }
        assertNull(host.next());
        channel.writeInbound(host.h2cData(5, 0, 0, new byte[128 * 1024], true));
        ByteBuf fourth = host.receive(channel).next();
        assertEquals(3 * 128 * 1024L, R2tPdu.offset(fourth));
    }

    @Test
    void readIsSplitIntoC2HDataWithLastPduOnTheLastThenCapsuleResp() {
        connect();
        int length = 256 * 1024 + 4096;
        channel.writeInbound(host.capsule(TestHost.sqe(READ, 77, length, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        host.receive(channel);
        byte[] received = new byte[length];
        long[] offsets = {0, 128 * 1024, 256 * 1024};
        for (int i = 0; i < 3; i++) {
            ByteBuf pdu = host.next();
            assertEquals(PduHeader.TYPE_C2H_DATA, PduHeader.type(pdu));
            assertEquals(77, C2HDataPdu.cccid(pdu));
            assertEquals(offsets[i], C2HDataPdu.dataOffset(pdu));
            assertEquals(24, PduHeader.pdo(pdu));
            assertEquals(i == 2 ? PduHeader.FLAG_LAST_PDU : 0, PduHeader.flags(pdu));
            byte[] d = host.c2hData(pdu);
            System.arraycopy(d, 0, received, (int) offsets[i], d.length);
        }
        assertArrayEquals(FakeTarget.pattern(0, length), received);
        ByteBuf resp = host.next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(77, CapsuleRespPdu.cid(resp));
        assertNull(host.next());
        assertEquals(3, connection.counters().get(Counter.C2H_DATA_PDUS));
    }

    @Test
    void withSqFlowControlDisabledLastC2HDataCarriesSuccessAndNoCapsuleRespFollows() {
        target.flowControlDisabled = true;
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(READ, 3, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        ByteBuf pdu = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_C2H_DATA, PduHeader.type(pdu));
        assertEquals(PduHeader.FLAG_LAST_PDU | PduHeader.FLAG_SUCCESS, PduHeader.flags(pdu));
        assertArrayEquals(FakeTarget.pattern(0, 4096), host.c2hData(pdu));
        assertNull(host.next(), "no CapsuleResp after SUCCESS");
    }

    @Test
    void failedReadSendsOnlyTheCapsuleRespWithItsStatus() {
        target.flowControlDisabled = true;
        target.readStatus = 0x0281; // SCT 2 (media), SC 0x81 unrecovered read error
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(READ, 3, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        ByteBuf resp = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(0x0281, CapsuleRespPdu.status(resp));
        assertNull(host.next());
    }

    @Test
    void c2hDataHonoursTheHostPduDataAlignment() {
        host = new TestHost(true, true);
        open();
        channel.writeInbound(TestHost.icReq(0, 7, 3, 0)); // HPDA 7 → data at multiples of 32 bytes
        host.receive(channel).next();
        channel.writeInbound(host.capsule(TestHost.sqe(READ, 8, 8192, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        ByteBuf pdu = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_C2H_DATA, PduHeader.type(pdu));
        assertEquals(32, PduHeader.pdo(pdu));
        assertEquals(32 + 8192 + 4, PduHeader.plen(pdu));
        assertEquals(PduHeader.FLAG_HDGSTF | PduHeader.FLAG_DDGSTF | PduHeader.FLAG_LAST_PDU, PduHeader.flags(pdu));
        assertTrue(host.headerDigestOk(pdu));
        assertEquals(0, pdu.getInt(28), "padding is zero");
        assertArrayEquals(FakeTarget.pattern(0, 8192), host.c2hData(pdu));
    }

    @Test
    void withDigestsEveryPduIsDigestedBothWays() {
        host = new TestHost(true, true);
        connect();
        int length = 200 * 1024;
        byte[] data = FakeTarget.pattern(9, length);
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, length, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        ByteBuf r2t = host.receive(channel).next();
        assertEquals(PduHeader.FLAG_HDGSTF, PduHeader.flags(r2t));
        assertEquals(28, PduHeader.plen(r2t));
        assertTrue(host.headerDigestOk(r2t));
        channel.writeInbound(host.h2cData(1, R2tPdu.ttag(r2t), 0, Arrays.copyOfRange(data, 0, 128 * 1024), true));
        r2t = host.receive(channel).next();
        channel.writeInbound(host.h2cData(1, R2tPdu.ttag(r2t), 128 * 1024, Arrays.copyOfRange(data, 128 * 1024, length), true));
        assertArrayEquals(data, target.queue().writeData.getFirst());
        ByteBuf resp = host.receive(channel).next();
        assertEquals(0, CapsuleRespPdu.status(resp));
        assertTrue(host.headerDigestOk(resp));

        channel.writeInbound(host.capsule(TestHost.sqe(READ, 2, 300 * 1024, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        host.receive(channel);
        int got = 0;
        ByteBuf pdu;
        while ((pdu = host.next()) != null && PduHeader.type(pdu) == PduHeader.TYPE_C2H_DATA) {
            assertTrue(host.headerDigestOk(pdu));
            assertEquals(28, PduHeader.pdo(pdu));
            got += host.c2hData(pdu).length;
        }
        assertEquals(300 * 1024, got);
        assertNotNull(pdu);
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(pdu));
    }

    @Test
    void corruptHeaderDigestTerminatesWithFes3() {
        host = new TestHost(true, false);
        connect();
        ByteBuf capsule = host.capsule(TestHost.sqe(READ, 1, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null);
        capsule.setByte(72, capsule.getByte(72) ^ 0x01);
        ByteBuf header = copyOf(capsule).slice(0, 72);
        channel.writeInbound(capsule);
        assertTerminated(PduHeader.FES_HEADER_DIGEST_ERROR, 0, header);
        assertTrue(target.queue().submittedCids.isEmpty());
        assertEquals(1, connection.counters().get(Counter.HEADER_DIGEST_ERRORS));
        assertEquals(1, target.queue().transportClosedCalls);
    }

    @Test
    void corruptDataDigestInCapsuleCompletesWithTransientTransportError() {
        host = new TestHost(false, true);
        connect();
        ByteBuf capsule = host.capsule(TestHost.sqe(WRITE, 4, 512, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), new byte[512]);
        capsule.setByte(80, 1); // flip a data byte after the digest was computed
        channel.writeInbound(capsule);
        ByteBuf resp = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(0x22, CapsuleRespPdu.status(resp));
        assertTrue(target.queue().submittedCids.isEmpty());
        assertTrue(channel.isOpen(), "a data digest error is not fatal");
        assertEquals(1, connection.counters().get(Counter.DATA_DIGEST_ERRORS));
    }

    @Test
    void corruptDataDigestInH2CDataCompletesWithTransientTransportErrorAfterAllData() {
        host = new TestHost(false, true);
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 4, 8192, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        ByteBuf r2t = host.receive(channel).next();
        ByteBuf first = host.h2cData(4, R2tPdu.ttag(r2t), 0, new byte[4096], false);
        first.setByte(30, 9);
        channel.writeInbound(first);
        assertNull(host.receive(channel).next());
        channel.writeInbound(host.h2cData(4, R2tPdu.ttag(r2t), 4096, new byte[4096], true));
        ByteBuf resp = host.receive(channel).next();
        assertEquals(0x22, CapsuleRespPdu.status(resp));
        assertTrue(target.queue().submittedCids.isEmpty());
        assertTrue(channel.isOpen());
    }

    @Test
    void transferLargerThanMdtsCompletesWithDataSglLengthInvalid() {
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(READ, 11, 2 * 1024 * 1024, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        ByteBuf resp = host.receive(channel).next();
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
        assertEquals(11, CapsuleRespPdu.cid(resp));
        int status = CapsuleRespPdu.status(resp);
        assertEquals(0x0F, status & 0xff, "SC Data SGL Length Invalid");
        assertEquals(0, (status >> 8) & 7, "SCT generic");
        assertTrue(target.queue().submittedCids.isEmpty());
        assertEquals(1, connection.counters().get(Counter.COMMANDS_FAILED_BY_TRANSPORT));
    }

    @Test
    void inCapsuleDataBeyondWhatWeOfferIsRejected() {
        connect();
        // SGL says 16 KiB in the capsule; we offer 8 KiB. The PDU itself is too long for us to frame.
        ByteBuf capsule = host.capsule(TestHost.sqe(WRITE, 1, 16384, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), new byte[16384]);
        ByteBuf header = copyOf(capsule).slice(0, 72);
        channel.writeInbound(capsule);
        assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET, header);
    }

    @Test
    void severalCompletionsAreFlushedOnce() {
        target.autoComplete = false;
        connect();
        for (int cid = 1; cid <= 3; cid++) {
            channel.writeInbound(host.capsule(TestHost.sqe(READ, cid, 512, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        }
        long flushes = connection.counters().get(Counter.FLUSHES);
        target.queue().answerHeld();
        channel.runPendingTasks();
        assertEquals(flushes + 1, connection.counters().get(Counter.FLUSHES));
        host.receive(channel);
        for (int cid = 1; cid <= 3; cid++) {
            assertEquals(PduHeader.TYPE_C2H_DATA, PduHeader.type(host.next()));
            ByteBuf resp = host.next();
            assertEquals(cid, CapsuleRespPdu.cid(resp));
        }
    }

    @Test
    void emptyPoolStopsReadingAndHeldCommandsRunWhenRequestsReturn() {
        options = options.withMaxCommandsPerConnection(4);
        target.autoComplete = false;
        connect();
        ByteBuf batch = Unpooled.directBuffer();
        for (int cid = 1; cid <= 6; cid++) {
            ByteBuf c = host.capsule(TestHost.sqe(READ, cid, 512, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null);
            batch.writeBytes(c);
            c.release();
        }
        channel.writeInbound(batch);
        FakeTarget.Queue q = target.queue();
        assertEquals(4, q.submittedCids.size());
        assertFalse(channel.config().isAutoRead(), "stopped reading");
        assertEquals(1, connection.counters().get(Counter.POOL_EXHAUSTED));
        assertEquals(4, connection.inFlight());

        q.answerHeld();
        channel.runPendingTasks();
        assertEquals(6, q.submittedCids.size(), "held commands ran in order");
        assertEquals(java.util.List.of(1, 2, 3, 4, 5, 6), q.submittedCids);
        assertTrue(channel.config().isAutoRead(), "reading again");
        q.answerHeld();
        channel.runPendingTasks();
        host.receive(channel);
        int responses = 0;
        ByteBuf pdu;
        while ((pdu = host.next()) != null) {
            if (PduHeader.type(pdu) == PduHeader.TYPE_CAPSULE_RESP) {
                responses++;
            }
        }
        assertEquals(6, responses);
        assertEquals(0, connection.inFlight());
    }

    @Test
    void writesWaitingForDataKeepReadingWhenThePoolIsEmpty() {
        options = options.withMaxCommandsPerConnection(2);
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 2, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        channel.writeInbound(host.capsule(TestHost.sqe(0x00, 3, 0, 0), null)); // held: pool empty
        assertTrue(channel.config().isAutoRead(), "data for the waiting writes must still be read");
        host.receive(channel);
        ByteBuf r1 = host.next();
        ByteBuf r2 = host.next();
        channel.writeInbound(host.h2cData(2, R2tPdu.ttag(r2), 0, new byte[4096], true));
        channel.writeInbound(host.h2cData(1, R2tPdu.ttag(r1), 0, new byte[4096], true));
        // 2 completes at once, which frees a request for the held command 3, then 1.
        assertEquals(java.util.List.of(2, 3, 1), target.queue().submittedCids);
    }

    @Test
    void quiesceStopsTakingCommands() {
        connect();
        connection.quiesce();
        channel.runPendingTasks();
        assertFalse(channel.config().isAutoRead());
        channel.writeInbound(host.capsule(TestHost.sqe(0x00, 3, 0, 0), null));
        assertTrue(target.queue().submittedCids.isEmpty());
        connection.resume();
        channel.runPendingTasks();
        assertEquals(1, target.queue().submittedCids.size());
    }

    @Test
    void completionAfterCloseOnlyReleasesBuffers() {
        target.autoComplete = false;
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(READ, 1, 65536, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        channel.writeInbound(host.capsule(TestHost.connectSqe(2), new byte[1024]));
        host.receive(channel);
        FakeTarget.Queue q = target.queue();
        assertEquals(2, q.held.size());
        channel.close();
        assertEquals(1, q.transportClosedCalls);
        assertTrue(connection.isClosed());
        assertEquals(2, connection.inFlight());

        q.answerHeld();
        channel.runPendingTasks();
        assertNull(channel.readOutbound(), "nothing is written after close");
        assertEquals(0, connection.inFlight());
        assertEquals(1, q.transportClosedCalls, "transportClosed exactly once");
        // LeakFailingExtension fails the test if the request buffers were not released.
    }

    @Test
    void closeWhileWaitingForH2CDataReleasesTheWriteBuffer() {
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, 65536, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        channel.writeInbound(host.h2cData(1, 0, 0, new byte[1000], false));
        connection.close("test");
        channel.runPendingTasks(); // close runs on the event loop, after answers already given
        assertFalse(channel.isOpen());
        assertEquals(1, target.queue().transportClosedCalls);
    }

    @Test
    void h2cTermReqClosesQuietly() {
        connect();
        channel.writeInbound(TestHost.h2cTermReq(PduHeader.FES_PDU_SEQUENCE_ERROR));
        assertNull(host.receive(channel).next());
        assertFalse(channel.isOpen());
        assertEquals(1, connection.counters().get(Counter.TERM_REQS_RECEIVED));
        assertEquals(0, connection.counters().get(Counter.TERM_REQS_SENT));
    }

    /** Malformed and out-of-sequence PDUs: each gets a C2HTermReq with the right FES/FEI, then the close. */
    @Nested
    class FatalErrors {

        @Test
        void capsuleBeforeIcReq() {
            open();
            ByteBuf capsule = host.capsule(TestHost.sqe(0x00, 1, 0, 0), null);
            ByteBuf header = copyOf(capsule);
            channel.writeInbound(capsule);
            assertTerminated(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, header);
            assertTrue(target.queues.isEmpty());
        }

        @Test
        void secondIcReq() {
            connect();
            ByteBuf again = host.icReq();
            ByteBuf header = copyOf(again);
            channel.writeInbound(again);
            assertTerminated(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, header);
            assertEquals(1, target.queue().transportClosedCalls);
        }

        @Test
        void icReqWithUnsupportedPfv() {
            open();
            channel.writeInbound(TestHost.icReq(1, 0, 0, 0));
            assertTerminated(PduHeader.FES_UNSUPPORTED_PARAMETER, IcReqPdu.PFV_OFFSET, null);
        }

        @Test
        void icReqWithHpdaOutOfRange() {
            open();
            channel.writeInbound(TestHost.icReq(0, 32, 0, 0));
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, IcReqPdu.HPDA_OFFSET, null);
        }

        @Test
        void icReqWithWrongPlen() {
            open();
            ByteBuf icreq = TestHost.icReq(0, 0, 0, 0);
            icreq.setIntLE(4, 132);
            icreq.writeZero(4);
            channel.writeInbound(icreq);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET, null);
        }

        @Test
        void unknownPduType() {
            connect();
            ByteBuf pdu = bytes(0x08, 0, 24, 0, 24, 0, 0, 0);
            ByteBuf header = copyOf(pdu);
            channel.writeInbound(pdu);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.TYPE_OFFSET, header);
        }

        @Test
        void controllerPduTypeFromHost() {
            connect();
            ByteBuf pdu = Unpooled.directBuffer();
            CapsuleRespPdu.write(pdu, 0, 0, 0, 0, 1, 0, false, host.crc);
            channel.writeInbound(pdu);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.TYPE_OFFSET, null);
        }

        @Test
        void wrongHlen() {
            connect();
            ByteBuf capsule = host.capsule(TestHost.sqe(0x00, 1, 0, 0), null);
            capsule.setByte(PduHeader.HLEN_OFFSET, 64);
            channel.writeInbound(capsule);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.HLEN_OFFSET, null);
        }

        @Test
        void oversizedPlenIsRejectedBeforeWaitingForIt() {
            connect();
            ByteBuf pdu = bytes(0x04, 0, 72, 72, 0, 0, 0, 0x40); // PLEN 1 GiB
            channel.writeInbound(pdu);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET, null);
        }

        @Test
        void headerDigestFlagWithoutNegotiation() {
            connect();
            ByteBuf capsule = host.capsule(TestHost.sqe(0x00, 1, 0, 0), null);
            capsule.setByte(PduHeader.FLAGS_OFFSET, PduHeader.FLAG_HDGSTF);
            channel.writeInbound(capsule);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.FLAGS_OFFSET, null);
        }

        @Test
        void badPdo() {
            connect();
            ByteBuf capsule = host.capsule(TestHost.sqe(WRITE, 1, 512, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), new byte[512]);
            capsule.setByte(PduHeader.PDO_OFFSET, 40);
            channel.writeInbound(capsule);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PDO_OFFSET, null);
        }

        @Test
        void h2cDataNobodyAskedFor() {
            connect();
            channel.writeInbound(host.capsule(TestHost.connectSqe(1), new byte[1024])); // request 0 exists, free
            host.receive(channel).next();
            ByteBuf data = host.h2cData(1, 0, 0, new byte[512], true);
            ByteBuf header = copyOf(data).slice(0, 24);
            channel.writeInbound(data);
            assertTerminated(PduHeader.FES_PDU_SEQUENCE_ERROR, 0, header);
        }

        @Test
        void h2cDataWithUnknownTtag() {
            connect();
            channel.writeInbound(host.h2cData(1, 999, 0, new byte[512], true));
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.TTAG_OFFSET, null);
        }

        @Test
        void h2cDataWithWrongCccid() {
            connect();
            channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
            ByteBuf r2t = host.receive(channel).next();
            channel.writeInbound(host.h2cData(2, R2tPdu.ttag(r2t), 0, new byte[4096], true));
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.CCCID_OFFSET, null);
        }

        @Test
        void h2cDataAtTheWrongOffset() {
            connect();
            channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, 8192, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
            ByteBuf r2t = host.receive(channel).next();
            channel.writeInbound(host.h2cData(1, R2tPdu.ttag(r2t), 4096, new byte[4096], true));
            assertTerminated(PduHeader.FES_DATA_TRANSFER_OUT_OF_RANGE, 0, null);
        }

        @Test
        void h2cDataBeyondTheR2t() {
            connect();
            channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, 4096, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
            ByteBuf r2t = host.receive(channel).next();
            channel.writeInbound(host.h2cData(1, R2tPdu.ttag(r2t), 0, new byte[8192], true));
            assertTerminated(PduHeader.FES_DATA_TRANSFER_OUT_OF_RANGE, 0, null);
        }

        @Test
        void h2cDataOverMaxH2CData() {
            connect();
            ByteBuf header = Unpooled.directBuffer();
            H2CDataPdu.writeHeader(header, 0, 1, 0, 0, 256 * 1024, 24, false, false, host.crc);
            ByteBuf quoted = copyOf(header);
            channel.writeInbound(header); // only the header: rejected without waiting for 256 KiB
            assertTerminated(PduHeader.FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0, quoted);
        }

        @Test
        void h2cDataLengthDisagreeingWithPlen() {
            connect();
            channel.writeInbound(host.capsule(TestHost.sqe(WRITE, 1, 8192, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
            ByteBuf r2t = host.receive(channel).next();
            ByteBuf data = host.h2cData(1, R2tPdu.ttag(r2t), 0, new byte[4096], true);
            data.setIntLE(H2CDataPdu.DATAL_OFFSET, 4000);
            channel.writeInbound(data);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.DATAL_OFFSET, null);
        }

        @Test
        void pdusAfterTheErrorAreDropped() {
            connect();
            ByteBuf two = Unpooled.directBuffer();
            ByteBuf unknown = bytes(0x08, 0, 24, 0, 24, 0, 0, 0);
            two.writeBytes(unknown);
            unknown.release();
            two.writeZero(16);
            ByteBuf capsule = host.capsule(TestHost.sqe(0x00, 1, 0, 0), null);
            two.writeBytes(capsule);
            capsule.release();
            channel.writeInbound(two);
            assertTerminated(PduHeader.FES_INVALID_HEADER_FIELD, 0, null);
            assertTrue(target.queue().submittedCids.isEmpty());
        }
    }

    @Test
    void countersAreExposed() {
        connect();
        channel.writeInbound(host.capsule(TestHost.sqe(0x00, 1, 0, 0), null));
        assertEquals(1, connection.counters().snapshot().get(Counter.COMMANDS_SUBMITTED));
        assertEquals(1, connection.counters().get(Counter.COMMANDS_COMPLETED));
        assertEquals(1, connection.counters().get(Counter.CAPSULE_RESPONSES_SENT));
    }
}
