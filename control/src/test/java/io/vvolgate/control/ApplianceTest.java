package io.vvolgate.control;

import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ConfigParser;
import io.vvolgate.control.identity.IdentityStore;
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
        assertEquals(new GatewaySpec.FileDevice(cwd.resolve("var/default-ns1.img"), 1L << 30), ns.device());
        assertEquals(512, ns.blockSize());
        assertEquals(1, ns.anaGroup());
        assertEquals(ids.namespace(s.nqn(), 1).uuid(), ns.uuid());
        assertArrayEquals(ids.namespace(s.nqn(), 1).nguid(), ns.nguid());
    }

    @Test
    void fileSystemErrorsReadAsSentences() {
        assertEquals("/x: permission denied", Appliance.describe(new AccessDeniedException("/x")));
        assertEquals("/y: no such file or directory", Appliance.describe(new NoSuchFileException("/y")));
        assertEquals("disk on fire", Appliance.describe(new IOException("disk on fire")));
    }
}
