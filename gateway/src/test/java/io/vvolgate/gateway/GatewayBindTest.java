package io.vvolgate.gateway;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.AsyncEvents;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.volume.VolumeType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Binding through a protocol endpoint, as a connected host sees it on the wire: the namespace is absent
 * until bound, then appears (Namespace Attribute Changed, Changed Namespace List, active list, ANA group)
 * without reconnecting; unbinding hides it and I/O fails with Invalid Namespace; another host never sees it.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(60)
class GatewayBindTest {
    static final String PE = "nqn.2026-11.io.vvolgate:pool";
    static final String HOST_A = "nqn.2014-08.org.example:host-a";
    static final String HOST_B = "nqn.2014-08.org.example:host-b";

    @TempDir
    Path dir;
    Gateway gateway;

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
    }

    GatewaySpec spec(List<GatewaySpec.BindingSpec> bindings) {
        var container = new GatewaySpec.ContainerSpec("pool", List.of(dir.resolve("pool.img")), 256L << 20, 64 * 1024, PE, 7);
        var sub = new GatewaySpec.SubsystemSpec(PE, "PE000001", "vvolgate", false, List.of(HOST_A), List.of());
        return new GatewaySpec(List.of(container), List.of(sub), List.of(new GatewaySpec.ListenerSpec("127.0.0.1", 0, false)), 2,
                bindings);
    }

    int ioPort() {
        return gateway.listeners().getFirst().port();
    }

    static int[] activeNamespaces(NvmeTcpHost host) throws IOException {
        NvmeTcpQueue.Completion c = host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_ACTIVE_NAMESPACES, 0), null, 4096);
        assertTrue(c.ok());
        ByteBuffer b = ByteBuffer.wrap(c.data()).order(ByteOrder.LITTLE_ENDIAN);
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < 1024 && b.getInt(i * 4) != 0; i++) {
            out.add(b.getInt(i * 4));
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** NSIDs the ANA log lists in {@code group}. */
    static List<Integer> anaGroupMembers(NvmeTcpHost host, int group) throws IOException {
        NvmeTcpQueue.Completion c = host.admin().execute(NvmeTcpHost.getLogPageSqe(LogPages.ANA, 0, 4096), null, 4096);
        assertTrue(c.ok());
        ByteBuffer b = ByteBuffer.wrap(c.data()).order(ByteOrder.LITTLE_ENDIAN);
        int groups = b.getShort(8) & 0xFFFF;
        int at = 16;
        List<Integer> members = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            int id = b.getInt(at);
            int count = b.getInt(at + 4);
            for (int i = 0; i < count; i++) {
                if (id == group) {
                    members.add(b.getInt(at + 32 + 4 * i));
                }
            }
            at += 32 + 4 * count;
        }
        return members;
    }

    static CompletableFuture<NvmeTcpQueue.Completion> armEvents(NvmeTcpHost host) throws IOException {
        ByteBuffer aec = NvmeTcpQueue.sqe(Opcodes.ADMIN_SET_FEATURES, 0);
        aec.putInt(40, Features.ASYNC_EVENT_CONFIGURATION);
        aec.putInt(44, AsyncEvents.CONFIG_NAMESPACE_ATTRIBUTE | AsyncEvents.CONFIG_ANA_CHANGE);
        assertTrue(host.admin().execute(aec, null, 0).ok());
        return host.admin().submit(NvmeTcpQueue.sqe(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0), null, 0);
    }

    @Test
    void aBoundVolumeAppearsToItsHostOnlyAndDisappearsWhenUnbound() throws Exception {
        gateway = Gateway.start(spec(List.of()));
        VolumeInfo vol = gateway.createVolume("pool", "vm-disk", VolumeType.DATA, 16L << 20, 512, false, Map.of("vm", "web-1"));
        gateway.allowHost(HOST_B);
        try (NvmeTcpHost a = NvmeTcpHost.connect("127.0.0.1", ioPort(), PE, HOST_A, 1, 64, false);
             NvmeTcpHost b = NvmeTcpHost.connect("127.0.0.1", ioPort(), PE, HOST_B, 1, 64, false)) {
            assertArrayEquals(new int[0], activeNamespaces(a), "nothing is visible before a bind");
            CompletableFuture<NvmeTcpQueue.Completion> event = armEvents(a);

            int nsid = gateway.bind("pool", vol.uuid(), HOST_A);
            assertEquals(nsid, gateway.bind("pool", vol.uuid(), HOST_A), "binding again changes nothing");

            NvmeTcpQueue.Completion notice = event.get(10, TimeUnit.SECONDS);
            assertEquals(AsyncEvents.notice(AsyncEvents.INFO_NAMESPACE_ATTRIBUTE_CHANGED, LogPages.CHANGED_NAMESPACE_LIST),
                    notice.result0());
            NvmeTcpQueue.Completion changed = a.admin().execute(NvmeTcpHost.getLogPageSqe(LogPages.CHANGED_NAMESPACE_LIST, 0, 4096), null, 4096);
            assertEquals(nsid, ByteBuffer.wrap(changed.data()).order(ByteOrder.LITTLE_ENDIAN).getInt(0));
            assertArrayEquals(new int[] {nsid}, activeNamespaces(a));
            assertEquals(List.of(nsid), anaGroupMembers(a, 7), "the namespace is in the protocol endpoint's ANA group");
            NvmeTcpQueue.Completion id = a.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE, nsid), null, 4096);
            assertEquals((16L << 20) / 512, ByteBuffer.wrap(id.data()).order(ByteOrder.LITTLE_ENDIAN).getLong(0));

            byte[] data = new byte[8192];
            new Random(5).nextBytes(data);
            assertTrue(a.write(0, nsid, 100, data, 512).ok());
            assertArrayEquals(data, a.read(0, nsid, 100, 16, 512).data());

            assertArrayEquals(new int[0], activeNamespaces(b), "a host never bound sees nothing");
            assertEquals(Status.INVALID_NAMESPACE, b.read(0, nsid, 100, 16, 512).status());
            assertThrows(AdminException.class, () -> gateway.deleteVolume("pool", vol.uuid()), "a bound volume cannot be deleted");

            gateway.unbind("pool", vol.uuid(), HOST_A);
            assertArrayEquals(new int[0], activeNamespaces(a), "unbound: gone from the active list");
            assertEquals(Status.INVALID_NAMESPACE, a.read(0, nsid, 100, 16, 512).status());
            gateway.deleteVolume("pool", vol.uuid());
            assertTrue(gateway.volumes("pool").isEmpty());
        }
    }

    @Test
    void bindingsComeBackAfterARestartWithTheSameNsid() throws Exception {
        gateway = Gateway.start(spec(List.of()));
        VolumeInfo vol = gateway.createVolume("pool", "db", VolumeType.DATA, 8L << 20, 4096, true, Map.of());
        VolumeInfo other = gateway.createVolume("pool", "logs", VolumeType.DATA, 8L << 20, 512, false, Map.of());
        gateway.bind("pool", other.uuid(), HOST_A);
        int nsid = gateway.bind("pool", vol.uuid(), HOST_A);
        gateway.close();
        gateway = Gateway.start(spec(List.of(new GatewaySpec.BindingSpec("pool", vol.uuid(), nsid, List.of(HOST_A)))));
        try (NvmeTcpHost a = NvmeTcpHost.connect("127.0.0.1", ioPort(), PE, HOST_A, 1, 64, false)) {
            assertArrayEquals(new int[] {nsid}, activeNamespaces(a));
            NvmeTcpQueue.Completion id = a.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE, nsid), null, 4096);
            byte[] nguid = java.util.Arrays.copyOfRange(id.data(), 104, 120);
            assertArrayEquals(vol.nguid(), nguid, "the same identity under the same NSID");
        }
        VolumeInfo after = gateway.volume("pool", vol.uuid());
        assertEquals(nsid, after.bindNsid());
        assertTrue(after.thick());
        assertFalse(after.snapshot());
    }

    @Test
    void refusalsSayWhatIsWrong() {
        gateway = Gateway.start(spec(List.of()));
        gateway.createVolume("pool", "a", VolumeType.DATA, 1L << 20, 512, false, Map.of());
        AdminException taken = assertThrows(AdminException.class,
                () -> gateway.createVolume("pool", "a", VolumeType.DATA, 1L << 20, 512, false, Map.of()));
        assertEquals(AdminException.Kind.CONFLICT, taken.kind());
        AdminException size = assertThrows(AdminException.class,
                () -> gateway.createVolume("pool", "b", VolumeType.DATA, 1000, 512, false, Map.of()));
        assertEquals(AdminException.Kind.INVALID, size.kind());
        AdminException space = assertThrows(AdminException.class,
                () -> gateway.createVolume("pool", "c", VolumeType.DATA, 1L << 40, 512, true, Map.of()));
        assertEquals(AdminException.Kind.NO_SPACE, space.kind());
        AdminException missing = assertThrows(AdminException.class, () -> gateway.volumes("nope"));
        assertEquals(AdminException.Kind.NOT_FOUND, missing.kind());
    }
}
