package io.vvolgate.control.identity;

import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ApplianceConfig.Backend;
import io.vvolgate.control.config.ApplianceConfig.Namespace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdentityStoreTest {

    private static final String NQN = "nqn.2026-11.io.vvolgate:demo";

    @TempDir
    Path state;

    private ApplianceConfig config(Namespace... namespaces) {
        return new ApplianceConfig("test.toml", state, 1, List.of(new ApplianceConfig.Listener("127.0.0.1", 0, false)),
                List.of(new ApplianceConfig.Subsystem(NQN, true, List.of(), "vvolgate", List.of(namespaces))));
    }

    private Namespace file(int nsid, String name, int blockSize) {
        return new Namespace(nsid, Backend.FILE, state.resolve(name), 1 << 20, blockSize, 1);
    }

    private static Namespace memory(int nsid) {
        return new Namespace(nsid, Backend.MEMORY, null, 1 << 20, 512, 1);
    }

    @Test
    void identitiesAreCreatedOnceAndSurviveAReload() throws IdentityException {
        ApplianceConfig config = config(file(1, "a.img", 512), memory(2));
        IdentityStore first = IdentityStore.load(state);
        assertEquals(List.of(), first.assign(config));
        first.save();
        assertTrue(Files.exists(state.resolve(IdentityStore.FILE_NAME)));

        IdentityStore second = IdentityStore.load(state);
        assertEquals(List.of(), second.assign(config));
        assertFalse(second.changed(), "nothing new to write after a reload");
        assertEquals(first.serial(NQN), second.serial(NQN));
        for (int nsid : new int[]{1, 2}) {
            assertEquals(first.namespace(NQN, nsid).uuid(), second.namespace(NQN, nsid).uuid());
            assertArrayEquals(first.namespace(NQN, nsid).nguid(), second.namespace(NQN, nsid).nguid());
        }
    }

    @Test
    void identifiersAreWellFormedAndUnique() throws IdentityException {
        IdentityStore store = IdentityStore.load(state);
        store.assign(config(memory(1), memory(2), memory(3)));
        String serial = store.serial(NQN);
        assertTrue(serial.length() <= 20 && serial.chars().allMatch(c -> c > 0x20 && c < 0x7f), serial);
        var ids = List.of(store.namespace(NQN, 1), store.namespace(NQN, 2), store.namespace(NQN, 3));
        for (var id : ids) {
            assertEquals(4, id.uuid().version());
            assertEquals(16, id.nguid().length);
            assertFalse(Arrays.equals(new byte[16], id.nguid()));
        }
        assertEquals(3, ids.stream().map(id -> id.uuid()).distinct().count());
        assertEquals(3, ids.stream().map(id -> Arrays.toString(id.nguid())).distinct().count());
    }

    @Test
    void aChangedBlockSizeOrBackendGivesANewIdentityAndAWarning() throws IdentityException {
        IdentityStore store = IdentityStore.load(state);
        store.assign(config(file(1, "a.img", 512), memory(2)));
        store.save();
        var before1 = store.namespace(NQN, 1);
        var before2 = store.namespace(NQN, 2);

        IdentityStore reloaded = IdentityStore.load(state);
        List<String> warnings = reloaded.assign(config(file(1, "a.img", 4096), file(2, "b.img", 512)));
        assertEquals(List.of(
                "namespace 1 of " + NQN + ": its block size changed from 512 to 4096; it gets a new NGUID and UUID, so hosts will see a new device",
                "namespace 2 of " + NQN + ": its backend changed from memory to file; it gets a new NGUID and UUID, so hosts will see a new device"),
                warnings);
        assertNotEquals(before1.uuid(), reloaded.namespace(NQN, 1).uuid());
        assertNotEquals(before2.uuid(), reloaded.namespace(NQN, 2).uuid());
    }

    @Test
    void aRenamedImageKeepsItsIdentityButAnotherImageDoesNot() throws IdentityException, IOException {
        ApplianceConfig config = config(file(1, "a.img", 512));
        IdentityStore store = IdentityStore.load(state);
        store.assign(config);
        store.save();
        Files.write(state.resolve("a.img"), new byte[1 << 20]); // what the gateway does on first start
        store.recordImages(config);
        store.save();
        var original = store.namespace(NQN, 1);

        Files.move(state.resolve("a.img"), state.resolve("renamed.img"));
        IdentityStore afterRename = IdentityStore.load(state);
        List<String> warnings = afterRename.assign(config(file(1, "renamed.img", 512)));
        assertEquals(1, warnings.size());
        assertTrue(warnings.getFirst().contains("the same image"), warnings.getFirst());
        assertEquals(original.uuid(), afterRename.namespace(NQN, 1).uuid());
        afterRename.save();

        Files.write(state.resolve("other.img"), new byte[1 << 20]);
        IdentityStore afterSwap = IdentityStore.load(state);
        warnings = afterSwap.assign(config(file(1, "other.img", 512)));
        assertTrue(warnings.getFirst().contains("its image changed from " + state.resolve("renamed.img") + " to " + state.resolve("other.img")),
                warnings.getFirst());
        assertNotEquals(original.uuid(), afterSwap.namespace(NQN, 1).uuid());
    }

    @Test
    void aDeletedImageMeansNewData() throws IdentityException, IOException {
        ApplianceConfig config = config(file(1, "a.img", 512));
        IdentityStore store = IdentityStore.load(state);
        store.assign(config);
        Files.write(state.resolve("a.img"), new byte[512]);
        store.recordImages(config);
        store.save();
        Files.delete(state.resolve("a.img"));
        IdentityStore reloaded = IdentityStore.load(state);
        List<String> warnings = reloaded.assign(config);
        assertTrue(warnings.getFirst().contains("is missing and will be created empty"), warnings.toString());
        assertNotEquals(store.namespace(NQN, 1).uuid(), reloaded.namespace(NQN, 1).uuid());
    }

    @Test
    void namespacesNoLongerConfiguredAreRemembered() throws IdentityException {
        IdentityStore store = IdentityStore.load(state);
        store.assign(config(memory(1), memory(2)));
        store.save();
        var two = store.namespace(NQN, 2);
        IdentityStore without = IdentityStore.load(state);
        without.assign(config(memory(1)));
        without.save();
        IdentityStore back = IdentityStore.load(state);
        back.assign(config(memory(1), memory(2)));
        assertEquals(two.uuid(), back.namespace(NQN, 2).uuid());
    }

    @Test
    void saveReplacesTheFileAtomicallyAndAFailedSaveLeavesTheOldOne() throws IdentityException, IOException {
        IdentityStore store = IdentityStore.load(state);
        store.assign(config(memory(1)));
        store.save();
        String saved = Files.readString(state.resolve(IdentityStore.FILE_NAME));
        assertFalse(Files.exists(state.resolve(IdentityStore.FILE_NAME + ".tmp")), "no temporary file is left behind");

        // A directory where the temporary file goes makes the write fail before the rename.
        Path tmp = Files.createDirectories(state.resolve(IdentityStore.FILE_NAME + ".tmp"));
        Files.writeString(tmp.resolve("x"), "x");
        IdentityStore next = IdentityStore.load(state);
        next.assign(config(memory(1), memory(2)));
        IdentityException e = assertThrows(IdentityException.class, next::save);
        assertTrue(e.getMessage().startsWith("cannot write " + state.resolve(IdentityStore.FILE_NAME)), e.getMessage());
        assertEquals(saved, Files.readString(state.resolve(IdentityStore.FILE_NAME)), "the old file is intact");
    }

    @Test
    void aStaleTemporaryFileFromACrashIsIgnoredAndReplaced() throws IdentityException, IOException {
        Files.writeString(state.resolve(IdentityStore.FILE_NAME + ".tmp"), "version = 1\n[[subsystem]]\nnqn = \"torn");
        IdentityStore store = IdentityStore.load(state);
        store.assign(config(memory(1)));
        store.save();
        IdentityStore reloaded = IdentityStore.load(state);
        assertEquals(store.serial(NQN), reloaded.serial(NQN));
    }

    @Test
    void aDamagedFileIsRefusedWithItsLineNotReplaced() throws IOException {
        Files.writeString(state.resolve(IdentityStore.FILE_NAME), """
                version = 1
                [[subsystem]]
                nqn = "nqn.2026-11.io.vvolgate:demo"
                serial = "VVG1"
                [[subsystem.namespace]]
                nsid = 1
                uuid = "not-a-uuid"
                nguid = "00"
                backend = "memory"
                block_size = 512
                """);
        IdentityException e = assertThrows(IdentityException.class, () -> IdentityStore.load(state));
        assertTrue(e.getMessage().startsWith(state.resolve(IdentityStore.FILE_NAME) + ":5: "), e.getMessage());
        assertTrue(e.getMessage().contains("restore it from a backup"), e.getMessage());

        Files.writeString(state.resolve(IdentityStore.FILE_NAME), "version = 1\n[[subsystem]\n");
        e = assertThrows(IdentityException.class, () -> IdentityStore.load(state));
        assertTrue(e.getMessage().startsWith(state.resolve(IdentityStore.FILE_NAME) + ":2: "), e.getMessage());
    }

    @Test
    void nqnsNeedingEscapesRoundTrip() throws IdentityException {
        String odd = "nqn.2026-11.io.vvolgate:a\"b\\c";
        ApplianceConfig config = new ApplianceConfig("t", state, 1, List.of(),
                List.of(new ApplianceConfig.Subsystem(odd, true, List.of(), "m", List.of(memory(1)))));
        IdentityStore store = IdentityStore.load(state);
        store.assign(config);
        store.save();
        assertEquals(store.serial(odd), IdentityStore.load(state).serial(odd));
    }
}
