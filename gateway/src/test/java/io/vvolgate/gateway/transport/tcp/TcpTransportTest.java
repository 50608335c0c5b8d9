package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
@Timeout(30)
class TcpTransportTest {
    final FakeTarget target = new FakeTarget();
    final TcpTransport transport = new TcpTransport(target, 2, TcpTransportOptions.defaults());

    @AfterEach
    void tearDown() {
        transport.close();
    }

    static void send(OutputStream out, ByteBuf pdu) throws IOException {
        try {
            out.write(ByteBufUtil.getBytes(pdu));
            out.flush();
        } finally {
            pdu.release();
        }
    }

    static ByteBuf readPdu(InputStream in, TestHost host) throws IOException {
        DataInputStream data = new DataInputStream(in);
        byte[] header = new byte[8];
        data.readFully(header);
        int plen = (header[4] & 0xff) | (header[5] & 0xff) << 8 | (header[6] & 0xff) << 16 | (header[7] & 0xff) << 24;
        byte[] rest = new byte[plen - 8];
        data.readFully(rest);
        host.receive(header);
        host.receive(rest);
        return host.next();
    }

    static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached in 10 s");
            }
            Thread.onSpinWait();
            Thread.sleep(1);
        }
    }

    @Test
    void rawSocketHostConnectsAndRunsCommands() throws Exception {
        Port port = transport.listen(1, "127.0.0.1", 0, false);
        assertEquals(Port.TRTYPE_TCP, port.transport());
        assertNotEquals("0", port.service());
        TestHost host = new TestHost(true, true);

        try (Socket socket = new Socket("127.0.0.1", Integer.parseInt(port.service()))) {
            socket.setTcpNoDelay(true);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();

            send(out, host.icReq());
            ByteBuf icResp = readPdu(in, host);
            assertEquals(PduHeader.TYPE_IC_RESP, PduHeader.type(icResp));
            assertEquals(3, IcRespPdu.digest(icResp));
            assertEquals(128 * 1024, IcRespPdu.maxH2CData(icResp));

            byte[] connectData = FakeTarget.pattern(5, 1024);
            send(out, host.capsule(TestHost.connectSqe(1), connectData));
            ByteBuf resp = readPdu(in, host);
            assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp));
            assertEquals(1, CapsuleRespPdu.cid(resp));
            assertEquals(0, CapsuleRespPdu.status(resp));
            assertTrue(host.headerDigestOk(resp));
            assertArrayEquals(connectData, target.queue().writeData.getFirst());

            send(out, host.capsule(TestHost.sqe(0x02, 2, 8192, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
            ByteBuf c2h = readPdu(in, host);
            assertEquals(PduHeader.TYPE_C2H_DATA, PduHeader.type(c2h));
            assertArrayEquals(FakeTarget.pattern(0, 8192), host.c2hData(c2h));
            assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(readPdu(in, host)));

            assertEquals(1, transport.connections().size());
            assertEquals(0, transport.inFlight());
        }
        await(() -> target.queue().transportClosedCalls == 1);
        await(() -> transport.connections().isEmpty());
    }

    @Test
    void completionsFromAnotherThreadAfterTheHostLeftAreReleased() throws Exception {
        target.autoComplete = false;
        Port port = transport.listen(1, "127.0.0.1", 0, false);
        TestHost host = new TestHost();
        try (Socket socket = new Socket("127.0.0.1", Integer.parseInt(port.service()))) {
            OutputStream out = socket.getOutputStream();
            send(out, host.icReq());
            readPdu(socket.getInputStream(), host);
            send(out, host.capsule(TestHost.sqe(0x02, 2, 65536, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
            await(() -> transport.inFlight() == 1);
        }
        await(() -> target.queue().transportClosedCalls == 1);
        assertEquals(1, transport.inFlight(), "the core still holds the read");
        Thread completer = new Thread(() -> target.queue().answerHeld());
        completer.start();
        completer.join();
        await(() -> transport.inFlight() == 0 && transport.connections().isEmpty());
    }

    @Test
    void stopAcceptingClosesTheListener() throws Exception {
        Port port = transport.listen(1, "127.0.0.1", 0, true);
        assertTrue(port.discovery());
        transport.stopAccepting();
        try (Socket ignored = new Socket("127.0.0.1", Integer.parseInt(port.service()))) {
            throw new AssertionError("connected to a closed listener");
        } catch (IOException expected) {
            // refused
        }
    }
}
