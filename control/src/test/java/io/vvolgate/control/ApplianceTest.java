package io.vvolgate.control;

import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ConfigParser;
import io.vvolgate.control.identity.IdentityStore;
import io.vvolgate.gateway.Gateway;
import io.vvolgate.gateway.GatewaySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ApplianceTest {

    @Test
    void theSpecCarriesTheConfigAndTheIdentities(@TempDir Path cwd) throws Exception {
        ApplianceConfig config = ConfigParser.loadDefault(cwd);
        IdentityStore ids = IdentityStore.load(config.stateDir());
        ids.assign(config);
        GatewaySpec spec = Appliance.spec(config, ids);

        assertEquals(List.of(new GatewaySpec.ListenerSpec("127.0.0.1", 4420, false),
                new GatewaySpec.ListenerSpec("127.0.0.1", 8009, true)), spec.listeners());
        assertEquals(ConfigParser.DEFAULT_IO_THREADS, spec.ioThreads());
        GatewaySpec.SubsystemSpec s = spec.subsystems().getFirst();
        assertEquals("nqn.2026-11.io.vvolgate:default", s.nqn());
        assertEquals(ids.serial(s.nqn()), s.serial());
        assertEquals("vvolgate", s.model());
        assertTrue(s.allowAnyHost());
        GatewaySpec.NamespaceSpec ns = s.namespaces().getFirst();
        assertEquals(1, ns.nsid());
        assertEquals(new GatewaySpec.VolumeDevice("default", "demo", 1L << 30, 512), ns.device());
        assertEquals(List.of(cwd.resolve("var/default-a.img"), cwd.resolve("var/default-b.img")),
                spec.containers().getFirst().devices());
        assertEquals(512, ns.blockSize());
        assertEquals(1, ns.anaGroup());
        assertEquals(ids.namespace(s.nqn(), 1).uuid(), ns.uuid());
        assertArrayEquals(ids.namespace(s.nqn(), 1).nguid(), ns.nguid());
    }

    @Test
    void containersAndVolumeNamespacesReachTheSpec(@TempDir Path dir) throws Exception {
        ApplianceConfig config = ConfigParser.parse("""
                [[listener]]
                address = "127.0.0.1"
                port = 0
                [[container]]
                name = "pool"
                devices = ["pool.img"]
                size = "1GiB"
                cluster_size = "128KiB"
                [[subsystem]]
                nqn = "nqn.2026-11.io.vvolgate:v"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "volume"
                container = "pool"
                volume = "vm1"
                size = "8MiB"
                block_size = 4096
                """, "v.toml", dir);
        IdentityStore ids = IdentityStore.load(config.stateDir());
        ids.assign(config);
        GatewaySpec spec = Appliance.spec(config, ids);
        assertEquals(List.of(new GatewaySpec.ContainerSpec("pool", List.of(dir.resolve("var/pool.img")), 1L << 30, 128 << 10, "nqn.2026-11.io.vvolgate:pool", 1)),
                spec.containers());
        GatewaySpec.NamespaceSpec ns = spec.subsystems().getFirst().namespaces().getFirst();
        assertEquals(new GatewaySpec.VolumeDevice("pool", "vm1", 8L << 20, 4096), ns.device());
        assertEquals(4096, ns.blockSize());
        // Given to the volume if it is created now.
        assertEquals(ids.namespace("nqn.2026-11.io.vvolgate:v", 1).uuid(), ns.uuid());
    }

    @Test
    void aSizeThatCannotApplyToAnExistingContainerIsAWarning() throws Exception {
        ApplianceConfig config = new ApplianceConfig("v.toml", Path.of("/s"), 1, List.of(),
                List.of(new ApplianceConfig.Container("pool", List.of(Path.of("/s/pool.img")), 2L << 30, 65536, 5)), List.of());
        assertEquals(List.of("v.toml:5: container \"pool\" has size 2147483648 but its device holds 1073741824 bytes; size applies"
                        + " only when the image is created, and a container cannot be resized"),
                Appliance.sizeWarnings(config, List.of(new Gateway.ContainerStatus("pool", java.util.UUID.randomUUID(), false, 3, 1, 1L << 30))));
        assertEquals(List.of(), Appliance.sizeWarnings(config,
                List.of(new Gateway.ContainerStatus("pool", java.util.UUID.randomUUID(), false, 3, 1, 2L << 30))));
    }

    @Test
    void fileSystemErrorsReadAsSentences() {
        assertEquals("/x: permission denied", Appliance.describe(new AccessDeniedException("/x")));
        assertEquals("/y: no such file or directory", Appliance.describe(new NoSuchFileException("/y")));
        assertEquals("disk on fire", Appliance.describe(new IOException("disk on fire")));
    }
}
