package io.vvolgate.gateway;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.Target;
import io.vvolgate.gateway.transport.tcp.H2CDataPdu;
import io.vvolgate.gateway.transport.tcp.TcpTransport;
import io.vvolgate.gateway.transport.tcp.TcpTransportOptions;
import io.vvolgate.gateway.transport.tcp.PduHeader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The gateway over real sockets under abuse: while a healthy host writes and reads, raw connections send
 * garbage, malformed PDUs, half a PDU, or nothing at all. The healthy host's commands all succeed and its data
 * stays intact; the gateway closes the bad connections (C2HTermReq first where the PDU was malformed) and
 * drops the controllers they made. A host that stops sending keep-alives loses its controller.
 */
@Timeout(60)
@ExtendWith(LeakFailingExtension.class)
class GatewayMalformedInputTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:abuse";
    static final long CLOSE_TIMEOUT_MS = 10_000;

    Gateway gateway;

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
    }

    void start() {
        var ns = new GatewaySpec.NamespaceSpec(1, new GatewaySpec.MemoryDevice(16L << 20), 512, new byte[16],
                UUID.fromString("00000000-0000-0000-0000-0000000000b1"), 1);
        var sub = new GatewaySpec.SubsystemSpec(NQN, "ABUSE0001", "vvolgate", true, List.of(), List.of(ns));
        gateway = Gateway.start(new GatewaySpec(List.of(sub), List.of(new GatewaySpec.ListenerSpec("127.0.0.1", 0, false)), 2));
    }

    int port() {
        return gateway.listeners().getFirst().port();
    }

    @Test
    void badConnectionsAreClosedWhileAHealthyHostCarriesOn() throws Exception {
        start();
        try (NvmeTcpHost good = NvmeTcpHost.connect("127.0.0.1", port(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicInteger rounds = new AtomicInteger();
            byte[][] written = new byte[32][];
            Thread worker = new Thread(() -> {
                try {
                    for (int i = 0; !stop.get(); i++) {
                        int slot = i % written.length;
                        // Alternately in-capsule (4 KiB) and R2T/H2CData (64 KiB) writes, each read back.
                        byte[] data = random(i % 2 == 0 ? 4096 : 65536, i);
                        NvmeTcpQueue.Completion w = good.write(0, 1, slot * 128L, data, 512);
                        if (!w.ok()) {
                            throw new AssertionError("write " + i + " failed with status 0x" + Integer.toHexString(w.status()));
                        }
                        written[slot] = data;
                        NvmeTcpQueue.Completion r = good.read(0, 1, slot * 128L, data.length / 512, 512);
                        if (!r.ok()) {
                            throw new AssertionError("read " + i + " failed with status 0x" + Integer.toHexString(r.status()));
                        }
                        assertArrayEquals(data, r.data(), "read-back " + i);
                        rounds.incrementAndGet();
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            }, "healthy-host");
            worker.start();
            awaitTrue(() -> rounds.get() > 0 || failure.get() != null, "the healthy host gets going");

            Random rnd = new Random(42);
            List<Socket> silent = new ArrayList<>();
            for (int round = 0; round < 3; round++) {
                // Connect and send nothing (kept open to the end; see silentConnectionsAreClosed).
                silent.add(connect());
                // Garbage: whatever its first header says, the gateway ends the connection.
                try (Socket s = connect()) {
                    byte[] garbage = new byte[8 + rnd.nextInt(600)];
                    rnd.nextBytes(garbage);
                    garbage[0] = (byte) (0x0A + rnd.nextInt(200)); // not a host PDU type: a framing error
                    s.getOutputStream().write(garbage);
                    Received got = readUntilClosed(s);
                    got.assertTermReq(0, PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.TYPE_OFFSET);
                }
                // ICReq, then a capsule whose HLEN is wrong.
                try (Socket s = connect()) {
                    s.getOutputStream().write(icReq());
                    byte[] capsule = capsule(Opcodes.ADMIN_KEEP_ALIVE);
                    capsule[PduHeader.HLEN_OFFSET] = 99;
                    s.getOutputStream().write(capsule);
                    Received got = readUntilClosed(s);
                    got.assertIcResp();
                    got.assertTermReq(128, PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.HLEN_OFFSET);
                }
                // ICReq, then the header of a 2 GiB capsule: refused on the header, before any of the body.
                try (Socket s = connect()) {
                    s.getOutputStream().write(icReq());
                    byte[] capsule = capsule(Opcodes.ADMIN_KEEP_ALIVE);
                    ByteBuffer.wrap(capsule).order(ByteOrder.LITTLE_ENDIAN).putInt(PduHeader.PLEN_OFFSET, 0x7FFFFFFF);
                    s.getOutputStream().write(capsule);
                    Received got = readUntilClosed(s);
                    got.assertIcResp();
                    got.assertTermReq(128, PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET);
                }
                // ICReq, then H2CData under a transfer tag the gateway never gave out.
                try (Socket s = connect()) {
                    s.getOutputStream().write(icReq());
                    ByteBuffer h2c = ByteBuffer.allocate(24 + 512).order(ByteOrder.LITTLE_ENDIAN);
                    h2c.put((byte) PduHeader.TYPE_H2C_DATA).put((byte) PduHeader.FLAG_LAST_PDU).put((byte) 24).put((byte) 24)
                            .putInt(24 + 512).putShort((short) 1).putShort((short) 0).putInt(0).putInt(512);
                    s.getOutputStream().write(h2c.array());
                    Received got = readUntilClosed(s);
                    got.assertIcResp();
                    got.assertTermReq(128, PduHeader.FES_INVALID_HEADER_FIELD, H2CDataPdu.TTAG_OFFSET);
                }
                // Half an ICReq, then the host half-closes: the gateway closes too, having answered nothing.
                try (Socket s = connect()) {
                    s.getOutputStream().write(icReq(), 0, 40);
                    s.shutdownOutput();
                    Received got = readUntilClosed(s);
                    assertEquals(0, got.bytes.length, "nothing answers half a PDU");
                }
                // A whole admin queue (a controller), then half a capsule and close: the controller goes.
                try (Socket s = connect()) {
                    s.getOutputStream().write(icReq());
                    s.getOutputStream().write(connectCapsule());
                    readExactly(s, 128 + 24);
                    s.getOutputStream().write(capsule(Opcodes.ADMIN_IDENTIFY), 0, 30);
                }
                awaitTrue(() -> gateway.controllerCount() == 1, "the abandoned admin queue's controller is gone");
            }
            // Several garbage connections at once.
            List<Thread> storm = new ArrayList<>();
            AtomicReference<Throwable> stormFailure = new AtomicReference<>();
            for (int i = 0; i < 8; i++) {
                long seed = 100 + i;
                Thread t = new Thread(() -> {
                    Random r = new Random(seed);
                    try (Socket s = connect()) {
                        s.getOutputStream().write(icReq());
                        byte[] garbage = new byte[72 + r.nextInt(400)];
                        r.nextBytes(garbage);
                        garbage[0] = PduHeader.TYPE_CAPSULE_CMD;
                        garbage[2] = 72;
                        ByteBuffer.wrap(garbage).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 1 << 30);
                        s.getOutputStream().write(garbage);
                        readUntilClosed(s).assertTermReq(128, PduHeader.FES_INVALID_HEADER_FIELD, PduHeader.PLEN_OFFSET);
                    } catch (Throwable e) {
                        stormFailure.set(e);
                    }
                });
                storm.add(t);
                t.start();
            }
            for (Thread t : storm) {
                t.join(CLOSE_TIMEOUT_MS);
            }
            assertNull(stormFailure.get(), () -> "a garbage connection: " + stormFailure.get());

            int before = rounds.get();
            awaitTrue(() -> rounds.get() >= before + 5 || failure.get() != null, "the healthy host still makes progress");
            stop.set(true);
            worker.join(CLOSE_TIMEOUT_MS);
            assertNull(failure.get(), () -> "the healthy host failed: " + failure.get());
            for (int slot = 0; slot < written.length; slot++) {
                if (written[slot] != null) {
                    assertArrayEquals(written[slot], good.read(0, 1, slot * 128L, written[slot].length / 512, 512).data(),
                            "slot " + slot + " after the abuse");
                }
            }
            assertEquals(1, gateway.controllerCount(), "only the healthy host's controller is left");
            for (Socket s : silent) {
                s.close();
            }
        }
    }

    @Test
    void silentConnectionsAreClosed() throws IOException {
        // The transport alone, with a short connect timeout (the appliance uses 30 s).
        Target target = new Target(1);
        TcpTransport tcp = new TcpTransport(target, 1, TcpTransportOptions.defaults().withConnectTimeoutMillis(300));
        try {
            Port port = tcp.listen(1, "127.0.0.1", 0, false);
            int p = Integer.parseInt(port.service());
            try (Socket silent = new Socket("127.0.0.1", p)) {
                readUntilClosed(silent);
            }
            try (Socket icReqOnly = new Socket("127.0.0.1", p)) {
                icReqOnly.getOutputStream().write(icReq());
                Received got = readUntilClosed(icReqOnly);
                got.assertIcResp();
            }
        } finally {
            tcp.close();
            target.close();
        }
    }

    @Test
    void aHostThatStopsSendingKeepAlivesLosesItsController() throws IOException {
        start();
        UUID hostId = UUID.nameUUIDFromBytes(NvmeTcpHost.DEFAULT_HOST_NQN.getBytes(StandardCharsets.UTF_8));
        try (NvmeTcpQueue alive = NvmeTcpQueue.open("127.0.0.1", port(), false, false);
             NvmeTcpQueue quiet = NvmeTcpQueue.open("127.0.0.1", port(), false, false)) {
            assertTrue(alive.connect(NQN, NvmeTcpHost.DEFAULT_HOST_NQN, hostId, 0, 32, 0xFFFF, 400).ok());
            assertTrue(quiet.connect(NQN, NvmeTcpHost.DEFAULT_HOST_NQN, hostId, 0, 32, 0xFFFF, 400).ok());
            assertEquals(2, gateway.controllerCount());
            // Keep Alive is an admin command: the controller must be enabled first (CC.EN = 1).
            assertTrue(alive.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)).ok(), "Property Set CC.EN");
            // One host keeps sending Keep Alive well within its KATO; the other goes quiet.
            long deadline = System.nanoTime() + CLOSE_TIMEOUT_MS * 1_000_000L;
            while (quiet.isOpen()) {
                assertTrue(System.nanoTime() < deadline, "the target did not close the quiet host's admin queue");
                assertTrue(alive.execute(NvmeTcpQueue.sqe(Opcodes.ADMIN_KEEP_ALIVE, 0), null, 0).ok(), "Keep Alive");
                LockSupport.parkNanos(100_000_000L); // the host's keep-alive interval, not a wait for the target
            }
            assertTrue(alive.isOpen(), "the host that sends keep-alives keeps its queue");
            awaitTrue(() -> gateway.controllerCount() == 1, "the quiet host's controller is gone");
            assertTrue(alive.execute(NvmeTcpQueue.sqe(Opcodes.ADMIN_KEEP_ALIVE, 0), null, 0).ok());
        }
    }

    // ------------------------------------------------------------------------------------------------

    Socket connect() throws IOException {
        Socket s = new Socket();
        s.setTcpNoDelay(true);
        s.connect(new InetSocketAddress("127.0.0.1", port()), 5000);
        return s;
    }

    static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] icReq() {
        ByteBuffer b = ByteBuffer.allocate(128).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) PduHeader.TYPE_IC_REQ).put((byte) 0).put((byte) 128).put((byte) 0).putInt(128);
        return b.array();
    }

    static byte[] capsule(int opcode) {
        ByteBuffer b = ByteBuffer.allocate(72).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) PduHeader.TYPE_CAPSULE_CMD).put((byte) 0).put((byte) 72).put((byte) 0).putInt(72);
        b.put(8, (byte) opcode).putShort(10, (short) 7);
        return b.array();
    }

    static byte[] connectCapsule() {
        ByteBuffer b = ByteBuffer.allocate(72 + 1024).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) PduHeader.TYPE_CAPSULE_CMD).put((byte) 0).put((byte) 72).put((byte) 72).putInt(72 + 1024);
        b.put(8, (byte) Opcodes.FABRICS).putShort(10, (short) 1).put(12, (byte) Opcodes.FCTYPE_CONNECT);
        b.putInt(8 + 32, 1024).put(8 + 39, (byte) 0x01);       // SGL: 1024 bytes in the capsule
        b.putShort(8 + 44, (short) 31);                        // SQSIZE
        b.putShort(72 + 16, (short) 0xFFFF);                   // CNTLID: dynamic
        b.put(72 + 256, NQN.getBytes(StandardCharsets.US_ASCII), 0, NQN.length());
        byte[] host = "nqn.2014-08.io.vvolgate:host:raw".getBytes(StandardCharsets.US_ASCII);
        b.put(72 + 512, host, 0, host.length);
        return b.array();
    }

    static byte[] readExactly(Socket s, int n) throws IOException {
        s.setSoTimeout((int) CLOSE_TIMEOUT_MS);
        return s.getInputStream().readNBytes(n);
    }

    /** What a raw connection received before the gateway closed it. */
    record Received(byte[] bytes) {
        void assertIcResp() {
            assertTrue(bytes.length >= 128 && bytes[0] == PduHeader.TYPE_IC_RESP, "an ICResp first");
        }

        void assertTermReq(int at, int fes, int fei) {
            assertTrue(bytes.length >= at + 24, "a C2HTermReq at byte " + at + " (got " + bytes.length + " bytes)");
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(PduHeader.TYPE_C2H_TERM_REQ, bytes[at], "PDU type");
            assertEquals(fes, b.getShort(at + 8) & 0xFFFF, "FES");
            assertEquals(fei, b.getInt(at + 10), "FEI");
            assertEquals(bytes.length, at + b.getInt(at + 4), "nothing after the C2HTermReq");
        }
    }

    /** Reads until the gateway closes the connection (EOF or reset); fails if it does not within the timeout. */
    static Received readUntilClosed(Socket s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long deadline = System.currentTimeMillis() + CLOSE_TIMEOUT_MS;
        InputStream in = s.getInputStream();
        byte[] buf = new byte[4096];
        while (true) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                fail("the gateway did not close the connection within " + CLOSE_TIMEOUT_MS + " ms");
            }
            s.setSoTimeout((int) left);
            int n;
            try {
                n = in.read(buf);
            } catch (SocketTimeoutException e) {
                fail("the gateway did not close the connection within " + CLOSE_TIMEOUT_MS + " ms");
                return null;
            } catch (SocketException e) {
                return new Received(out.toByteArray()); // reset: closed as well
            }
            if (n < 0) {
                return new Received(out.toByteArray());
            }
            out.write(buf, 0, n);
        }
    }

    static void awaitTrue(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + CLOSE_TIMEOUT_MS * 1_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out: " + what);
            }
            LockSupport.parkNanos(1_000_000L);
        }
    }
}
