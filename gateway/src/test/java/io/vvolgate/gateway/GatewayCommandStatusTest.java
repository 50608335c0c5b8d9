package io.vvolgate.gateway;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Sqe;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every command the target does not support, or supports with fields it cannot honour, gets the NVMe status a
 * host can act on, over the wire; and the queue keeps working afterwards.
 */
@Timeout(60)
@ExtendWith(LeakFailingExtension.class)
class GatewayCommandStatusTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:status";

    Gateway gateway;
    NvmeTcpHost host;

    @BeforeEach
    void start() throws IOException {
        var ns = new GatewaySpec.NamespaceSpec(1, new GatewaySpec.MemoryDevice(8L << 20), 512, new byte[16],
                UUID.fromString("00000000-0000-0000-0000-0000000000a1"), 1);
        var sub = new GatewaySpec.SubsystemSpec(NQN, "STATUS0001", "vvolgate", true, List.of(), List.of(ns));
        gateway = Gateway.start(new GatewaySpec(List.of(sub), List.of(new GatewaySpec.ListenerSpec("127.0.0.1", 0, false)), 1));
        host = NvmeTcpHost.connect("127.0.0.1", gateway.listeners().getFirst().port(), NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 128, false);
    }

    @AfterEach
    void stop() {
        if (host != null) {
            host.close();
        }
        if (gateway != null) {
            gateway.close();
        }
    }

    /** Sends {@code sqe} without data, or asking for {@code c2hLength} bytes back when its opcode reads. */
    static NvmeTcpQueue.Completion execute(NvmeTcpQueue q, ByteBuffer sqe) throws IOException {
        int opcode = sqe.get(Sqe.OPCODE_OFFSET) & 0xFF;
        int direction = opcode == Opcodes.FABRICS ? sqe.get(Sqe.FCTYPE_OFFSET) & 3 : opcode & 3;
        return q.execute(sqe, null, direction == 2 ? 512 : 0);
    }

    void assertStatus(int expected, NvmeTcpQueue.Completion c, String what) {
        assertEquals(Status.describe(expected), Status.describe(c.status()), what);
    }

    /** The queues still work after the refusals: a write and its read-back. */
    void assertQueuesStillWork() throws IOException {
        byte[] data = new byte[4096];
        new java.util.Random(5).nextBytes(data);
        assertTrue(host.write(0, 1, 16, data, 512).ok());
        assertArrayEquals(data, host.read(0, 1, 16, 8, 512).data());
        assertTrue(host.admin().execute(NvmeTcpQueue.sqe(Opcodes.ADMIN_KEEP_ALIVE, 0), null, 0).ok());
    }

    @Test
    void unsupportedAdminOpcodesGetInvalidOpcodeWithDnr() throws IOException {
        // Queue create/delete (not on fabrics), NS management and attachment, firmware commit and download,
        // device self-test, directives, virtualization, NVMe-MI, doorbell buffer, Format NVM, security,
        // sanitize, Get LBA Status, vendor specific.
        int[] opcodes = {0x00, 0x01, 0x04, 0x05, 0x0D, 0x10, 0x11, 0x14, 0x15, 0x19, 0x1A, 0x1C, 0x1D, 0x1E, 0x7C,
                0x80, 0x81, 0x82, 0x84, 0x86, 0xC0, 0xFF};
        for (int opcode : opcodes) {
            NvmeTcpQueue.Completion c = execute(host.admin(), NvmeTcpQueue.sqe(opcode, 0));
            assertStatus(Status.INVALID_OPCODE, c, "admin opcode 0x" + Integer.toHexString(opcode));
            assertTrue((c.status() & Status.DNR) != 0, "DNR");
        }
        assertQueuesStillWork();
    }

    @Test
    void unsupportedIoOpcodesGetInvalidOpcodeWithDnr() throws IOException {
        // Write Uncorrectable, Verify, reservations, Copy, undefined, and admin commands sent to an I/O queue.
        int[] opcodes = {0x04, 0x0C, 0x0D, 0x0E, 0x11, 0x15, 0x19, 0x03, 0x07, 0x80, 0xFF,
                Opcodes.ADMIN_IDENTIFY, Opcodes.ADMIN_KEEP_ALIVE, Opcodes.ADMIN_ASYNC_EVENT_REQUEST};
        for (int opcode : opcodes) {
            NvmeTcpQueue.Completion c = execute(host.io(0), NvmeTcpQueue.sqe(opcode, 1));
            assertStatus(Status.INVALID_OPCODE, c, "I/O opcode 0x" + Integer.toHexString(opcode));
        }
        assertQueuesStillWork();
    }

    @Test
    void unsupportedFabricsCommandTypesGetInvalidOpcode() throws IOException {
        // Authentication Send/Receive, and types the spec leaves reserved.
        for (int fctype : new int[] {Opcodes.FCTYPE_AUTH_SEND, Opcodes.FCTYPE_AUTH_RECEIVE, 0x02, 0x0C, 0x7E}) {
            ByteBuffer sqe = NvmeTcpQueue.sqe(Opcodes.FABRICS, 0);
            sqe.put(Sqe.FCTYPE_OFFSET, (byte) fctype);
            assertStatus(Status.INVALID_OPCODE, execute(host.admin(), sqe), "FCTYPE 0x" + Integer.toHexString(fctype));
        }
        assertQueuesStillWork();
    }

    @Test
    void identifyWithAnUnsupportedCnsGetsInvalidField() throws IOException {
        for (int cns : new int[] {0x04, 0x07, 0x08, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x1F, 0x7F, 0xFF}) {
            NvmeTcpQueue.Completion c = host.admin().execute(NvmeTcpHost.identifySqe(cns, 1), null, 4096);
            assertStatus(Status.INVALID_FIELD, c, "CNS 0x" + Integer.toHexString(cns));
        }
        assertTrue(host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_CONTROLLER, 0), null, 4096).ok());
    }

    @Test
    void getLogPageOfAnUnsupportedPageGetsInvalidLogPage() throws IOException {
        // Device self-test, telemetry, endurance groups, persistent events, reservation notification,
        // sanitize, vendor specific, and the discovery log asked of an I/O controller.
        for (int lid : new int[] {0x06, 0x07, 0x08, 0x0D, 0x80, 0x81, 0xC0, 0xFF, LogPages.DISCOVERY}) {
            NvmeTcpQueue.Completion c = host.admin().execute(NvmeTcpHost.getLogPageSqe(lid, 0xFFFFFFFF, 512), null, 512);
            assertStatus(Status.INVALID_LOG_PAGE, c, "LID 0x" + Integer.toHexString(lid));
        }
    }

    @Test
    void getLogPageFromAnOffsetPastTheEndGetsInvalidField() throws IOException {
        // SMART / Health is 512 bytes. LPO is a 64-bit unsigned byte offset (CDW12 low, CDW13 high).
        long[] offsets = {516, 4096, 1L << 32, 0x7FFFFFFF_FFFFFFFCL, 0xFFFFFFFF_FFFFFFFCL, 0x80000000_00000000L};
        for (long offset : offsets) {
            ByteBuffer sqe = NvmeTcpHost.getLogPageSqe(LogPages.SMART_HEALTH, 0xFFFFFFFF, 512);
            sqe.putInt(Sqe.CDW12_OFFSET, (int) offset);
            sqe.putInt(Sqe.CDW13_OFFSET, (int) (offset >>> 32));
            NvmeTcpQueue.Completion c = host.admin().execute(sqe, null, 512);
            assertStatus(Status.INVALID_FIELD, c, "LPO 0x" + Long.toHexString(offset));
        }
        ByteBuffer inside = NvmeTcpHost.getLogPageSqe(LogPages.SMART_HEALTH, 0xFFFFFFFF, 256);
        inside.putInt(Sqe.CDW12_OFFSET, 256);
        assertTrue(host.admin().execute(inside, null, 256).ok(), "an offset inside the page is fine");
    }

    @Test
    void getOrSetAnUnsupportedFeatureGetsInvalidField() throws IOException {
        // Arbitration, power management, LBA range type, error recovery, interrupt coalescing, reservations.
        for (int fid : new int[] {0x01, 0x02, 0x03, 0x05, 0x08, 0x09, 0x0A, 0x80, 0x81, 0xC0}) {
            ByteBuffer get = NvmeTcpQueue.sqe(Opcodes.ADMIN_GET_FEATURES, 0);
            get.putInt(Sqe.CDW10_OFFSET, fid);
            assertStatus(Status.INVALID_FIELD, host.admin().execute(get, null, 0), "Get Features FID 0x" + Integer.toHexString(fid));
            ByteBuffer set = NvmeTcpQueue.sqe(Opcodes.ADMIN_SET_FEATURES, 0);
            set.putInt(Sqe.CDW10_OFFSET, fid);
            assertStatus(Status.INVALID_FIELD, host.admin().execute(set, null, 0), "Set Features FID 0x" + Integer.toHexString(fid));
        }
        ByteBuffer saved = NvmeTcpQueue.sqe(Opcodes.ADMIN_SET_FEATURES, 0);
        saved.putInt(Sqe.CDW10_OFFSET, Features.VOLATILE_WRITE_CACHE | Features.SAVE);
        saved.putInt(Sqe.CDW11_OFFSET, 1);
        assertStatus(Status.FEATURE_NOT_SAVEABLE, host.admin().execute(saved, null, 0), "Set Features with SV");
        assertQueuesStillWork();
    }
}
