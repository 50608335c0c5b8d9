package io.vvolgate.gateway;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole gateway over loopback TCP, driven by the Java host library as a host would: discovery,
 * connect with and without digests, in-capsule and R2T writes, split reads, fused Compare-and-Write,
 * refusals, malformed input, and a clean shutdown that keeps file-backed data.
 */
@Timeout(60)
@ExtendWith(LeakFailingExtension.class)
class GatewayEndToEndTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:e2e";

    @TempDir
    Path dir;
    Gateway gateway;

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
    }

    GatewaySpec spec(Path image) {
        byte[] nguid = new byte[16];
        nguid[0] = 0x42;
        byte[] nguid2 = new byte[16];
        nguid2[0] = 0x43;
        var ns1 = new GatewaySpec.NamespaceSpec(1, new GatewaySpec.FileDevice(image, 64L << 20), 512, nguid,
                UUID.fromString("00000000-0000-0000-0000-000000000001"), 1);
        var ns2 = new GatewaySpec.NamespaceSpec(2, new GatewaySpec.MemoryDevice(16L << 20), 4096, nguid2,
                UUID.fromString("00000000-0000-0000-0000-000000000002"), 1);
        var sub = new GatewaySpec.SubsystemSpec(NQN, "E2E0001", "vvolgate", true, List.of(), List.of(ns1, ns2));
        return new GatewaySpec(List.of(sub), List.of(
                new GatewaySpec.ListenerSpec("127.0.0.1", 0, false),
                new GatewaySpec.ListenerSpec("127.0.0.1", 0, true)), 2);
    }

    int ioPort() {
        return gateway.listeners().stream().filter(l -> !l.discovery()).findFirst().orElseThrow().port();
    }

    int discoveryPort() {
        return gateway.listeners().stream().filter(Gateway.BoundListener::discovery).findFirst().orElseThrow().port();
    }

    static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void discoveryLogPointsAtTheIoListener() throws IOException {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        try (NvmeTcpHost disc = NvmeTcpHost.connect("127.0.0.1", discoveryPort(), "nqn.2014-08.org.nvmexpress.discovery",
                NvmeTcpHost.DEFAULT_HOST_NQN, 0, 32, false)) {
            NvmeTcpQueue.Completion log = disc.discoveryLog(3072);
            assertTrue(log.ok());
            ByteBuffer b = ByteBuffer.wrap(log.data()).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(2, b.getLong(8));
            String service = new String(log.data(), 1024 + LogPages.DISC_TRSVCID, 32, StandardCharsets.US_ASCII).trim();
            assertEquals(String.valueOf(ioPort()), service.replace("\0", ""));
            String subnqn = new String(log.data(), 1024 + LogPages.DISC_SUBNQN, NQN.length(), StandardCharsets.US_ASCII);
            assertEquals(NQN, subnqn);
        }
    }

    @Test
    void writesAndReadsBackOverBothQueuesWithAndWithoutDigests() throws IOException {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        for (boolean digests : new boolean[] {false, true}) {
            try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 2, 128, digests)) {
                assertEquals(digests, host.io(0).negotiated().dataDigest());
                // In-capsule (4 KiB), R2T with several H2CData PDUs (256 KiB), split C2HData reads.
                byte[] small = random(4096, 1);
                byte[] large = random(256 * 1024, 2);
                assertTrue(host.write(0, 1, 8, small, 512).ok());
                assertTrue(host.write(1, 1, 1000, large, 512).ok());
                assertArrayEquals(small, host.read(1, 1, 8, 8, 512).data());
                assertArrayEquals(large, host.read(0, 1, 1000, 512, 512).data());
                // The 4096-byte-LBA memory namespace.
                byte[] four = random(3 * 4096, 3);
                assertTrue(host.write(0, 2, 5, four, 4096).ok());
                assertArrayEquals(four, host.read(0, 2, 5, 3, 4096).data());
            }
        }
    }

    @Test
    void manyCommandsInFlightOnOneQueueAllComplete() throws Exception {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            List<CompletableFuture<NvmeTcpQueue.Completion>> writes = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                writes.add(host.io(0).submit(NvmeTcpHost.rwSqe(Opcodes.IO_WRITE, 1, i * 32L, 32), random(16384, i), 0));
            }
            for (CompletableFuture<NvmeTcpQueue.Completion> f : writes) {
                assertTrue(f.get().ok());
            }
            for (int i = 0; i < 100; i += 7) {
                assertArrayEquals(random(16384, i), host.read(0, 1, i * 32L, 32, 512).data());
            }
        }
    }

    @Test
    void fusedCompareAndWriteOverTheWire() throws Exception {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            byte[] free = new byte[512];
            byte[] mine = random(512, 7);
            ByteBuffer cmp = NvmeTcpHost.rwSqe(Opcodes.IO_COMPARE, 1, 77, 1);
            cmp.put(1, (byte) Opcodes.FUSE_FIRST);
            ByteBuffer wr = NvmeTcpHost.rwSqe(Opcodes.IO_WRITE, 1, 77, 1);
            wr.put(1, (byte) Opcodes.FUSE_SECOND);
            var a = host.io(0).submit(cmp, free, 0);
            var b = host.io(0).submit(wr, mine, 0);
            assertTrue(a.get().ok());
            assertTrue(b.get().ok());
            assertArrayEquals(mine, host.read(0, 1, 77, 1, 512).data());
            NvmeTcpQueue.Completion unequal = host.io(0).execute(NvmeTcpHost.rwSqe(Opcodes.IO_COMPARE, 1, 77, 1), free, 0);
            assertEquals(Status.COMPARE_FAILURE, unequal.status());
        }
    }

    @Test
    void unknownSubsystemAndOutOfRangeGetTheirStatus() throws IOException {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        IOException refused = assertThrows(IOException.class, () -> NvmeTcpHost.connect("127.0.0.1", ioPort(),
                "nqn.2026-11.io.vvolgate:nope", NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false));
        assertTrue(refused.getMessage().contains("admin Connect"), refused.getMessage());
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            long blocks = (64L << 20) / 512;
            assertEquals(Status.LBA_OUT_OF_RANGE, host.read(0, 1, blocks, 1, 512).status());
            assertEquals(Status.INVALID_NAMESPACE, host.read(0, 9, 0, 1, 512).status());
            NvmeTcpQueue.Completion id = host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE, 1), null, 4096);
            assertEquals((64L << 20) / 512, ByteBuffer.wrap(id.data()).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
        }
    }

    @Test
    void aMalformedPduGetsATermReqAndOtherConnectionsCarryOn() throws Exception {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        try (NvmeTcpHost good = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false);
             NvmeTcpQueue bad = NvmeTcpQueue.open("127.0.0.1", ioPort(), false, false)) {
            // An H2CData PDU for a transfer nobody asked for.
            ByteBuffer pdu = ByteBuffer.allocate(24 + 512).order(ByteOrder.LITTLE_ENDIAN);
            pdu.put((byte) 0x06).put((byte) 0x04).put((byte) 24).put((byte) 24).putInt(24 + 512);
            pdu.putShort((short) 1).putShort((short) 5).putInt(0).putInt(512).putInt(0);
            bad.sendRaw(pdu.array());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (bad.termReq() == -1 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(bad.termReq() != -1, "a C2HTermReq arrived");
            byte[] data = random(4096, 11);
            assertTrue(good.write(0, 1, 0, data, 512).ok());
            assertArrayEquals(data, good.read(0, 1, 0, 8, 512).data());
            assertFalse(bad.isOpen() && bad.termReq() == -1);
        }
    }

    @Test
    void cleanShutdownKeepsWhatWasWrittenToTheFile() throws IOException {
        Path image = dir.resolve("ns1.img");
        gateway = Gateway.start(spec(image));
        byte[] data = random(128 * 1024, 99);
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            assertTrue(host.write(0, 1, 4096, data, 512).ok());
        }
        gateway.close();
        gateway = Gateway.start(spec(image));
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            assertArrayEquals(data, host.read(0, 1, 4096, 256, 512).data());
        }
    }
    @Test
    void disconnectIsAnsweredBeforeTheQueueCloses() throws IOException {
        gateway = Gateway.start(spec(dir.resolve("ns1.img")));
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            ByteBuffer disconnect = NvmeTcpQueue.sqe(Opcodes.FABRICS, 0);
            disconnect.put(4, (byte) Opcodes.FCTYPE_DISCONNECT);
            NvmeTcpQueue.Completion answer = host.io(0).execute(disconnect, null, 0);
            assertTrue(answer.ok(), "Disconnect is answered with success");
            assertThrows(IOException.class, () -> host.read(0, 1, 0, 1, 512), "the queue is closed after the answer");
        }
    }
    @Test
    void aVolumeGrownOnlineIsAnnouncedToTheHost(@TempDir Path pool) throws Exception {
        var container = new GatewaySpec.ContainerSpec("pool", List.of(pool.resolve("pool.img")), 256L << 20, 64 * 1024);
        var ns = new GatewaySpec.NamespaceSpec(1, new GatewaySpec.VolumeDevice("pool", "vm", 16L << 20, 512), 512, new byte[16],
                UUID.randomUUID(), 1);
        var sub = new GatewaySpec.SubsystemSpec(NQN, "GROW0001", "vvolgate", true, List.of(), List.of(ns));
        gateway = Gateway.start(new GatewaySpec(List.of(container), List.of(sub),
                List.of(new GatewaySpec.ListenerSpec("127.0.0.1", 0, false)), 2));
        try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", ioPort(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false)) {
            ByteBuffer aec = NvmeTcpQueue.sqe(Opcodes.ADMIN_SET_FEATURES, 0);
            aec.putInt(40, io.vvolgate.gateway.nvme.Features.ASYNC_EVENT_CONFIGURATION);
            aec.putInt(44, io.vvolgate.gateway.nvme.AsyncEvents.CONFIG_NAMESPACE_ATTRIBUTE);
            assertTrue(host.admin().execute(aec, null, 0).ok());
            CompletableFuture<NvmeTcpQueue.Completion> event = host.admin().submit(NvmeTcpQueue.sqe(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0), null, 0);
            long lastLba = (32L << 20) / 512 - 1;
            assertEquals(Status.LBA_OUT_OF_RANGE, host.read(0, 1, lastLba, 1, 512).status());

            gateway.resizeVolume("pool", "vm", 32L << 20);

            NvmeTcpQueue.Completion notice = event.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(io.vvolgate.gateway.nvme.AsyncEvents.notice(io.vvolgate.gateway.nvme.AsyncEvents.INFO_NAMESPACE_ATTRIBUTE_CHANGED,
                    LogPages.CHANGED_NAMESPACE_LIST), notice.result0());
            NvmeTcpQueue.Completion changed = host.admin().execute(NvmeTcpHost.getLogPageSqe(LogPages.CHANGED_NAMESPACE_LIST, 0, 4096), null, 4096);
            assertEquals(1, ByteBuffer.wrap(changed.data()).order(ByteOrder.LITTLE_ENDIAN).getInt(0), "NSID 1 changed");
            NvmeTcpQueue.Completion id = host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE, 1), null, 4096);
            assertEquals((32L << 20) / 512, ByteBuffer.wrap(id.data()).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
            byte[] tail = random(512, 77);
            assertTrue(host.write(0, 1, lastLba, tail, 512).ok(), "the new blocks are usable at once");
            assertArrayEquals(tail, host.read(0, 1, lastLba, 1, 512).data());
            GatewayException shrink = assertThrows(GatewayException.class, () -> gateway.resizeVolume("pool", "vm", 8L << 20));
            assertTrue(shrink.getMessage().contains("refused"), shrink.getMessage());
        }
    }
}
