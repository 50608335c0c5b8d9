package io.vvolgate.control.config;

import io.vvolgate.control.config.ApplianceConfig.Backend;
import io.vvolgate.control.config.ApplianceConfig.Namespace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigParserTest {

    private static final Path BASE = Path.of("/srv/vvolgate");

    /** A valid configuration whose line numbers the tests below refer to. */
    private static final String VALID = """
            state_dir = "var"
            io_threads = 3

            [[listener]]
            address = "127.0.0.1"
            port = 4420
            kind = "io"

            [[listener]]
            address = "127.0.0.1"
            port = 8009
            kind = "discovery"

            [[subsystem]]
            nqn = "nqn.2026-11.io.vvolgate:demo"
            hosts = ["nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]
            model = "vvolgate demo"

            [[subsystem.namespace]]
            backend = "file"
            path = "demo.img"
            size = "1GiB"

            [[subsystem.namespace]]
            backend = "memory"
            size = 1048576
            block_size = 4096
            ana_group = 2
            """;

    private static ApplianceConfig parse(String text) throws ConfigException {
        return ConfigParser.parse(text, "vvolgate.toml", BASE);
    }

    /** Parses {@code text}, which must be refused, and returns its problems. */
    private static List<String> problems(String text) {
        return assertThrows(ConfigException.class, () -> parse(text)).problems();
    }

    private static void assertRefused(String text, String expected) {
        List<String> problems = problems(text);
        assertTrue(problems.contains(expected), "expected\n  " + expected + "\nin\n  " + String.join("\n  ", problems));
    }

    /** VALID with {@code from} replaced by {@code to} (which must occur). */
    private static String valid(String from, String to) {
        assertTrue(VALID.contains(from), from);
        return VALID.replace(from, to);
    }

    @Test
    void readsAFullConfigurationWithDefaults() throws ConfigException {
        ApplianceConfig c = parse(VALID);
        assertEquals("vvolgate.toml", c.source());
        assertEquals(Path.of("/srv/vvolgate/var"), c.stateDir());
        assertEquals(3, c.ioThreads());
        assertEquals(List.of(new ApplianceConfig.Listener("127.0.0.1", 4420, false),
                new ApplianceConfig.Listener("127.0.0.1", 8009, true)), c.listeners());
        ApplianceConfig.Subsystem s = c.subsystems().getFirst();
        assertEquals("nqn.2026-11.io.vvolgate:demo", s.nqn());
        assertFalse(s.allowAnyHost());
        assertEquals(1, s.hosts().size());
        assertEquals("vvolgate demo", s.model());
        assertEquals(new Namespace(1, Backend.FILE, Path.of("/srv/vvolgate/var/demo.img"), 1L << 30, 512, 1),
                s.namespaces().get(0));
        assertEquals(new Namespace(2, Backend.MEMORY, null, 1 << 20, 4096, 2), s.namespaces().get(1));
    }

    @Test
    void optionalKeysTakeTheirDocumentedDefaults() throws ConfigException {
        ApplianceConfig c = parse("""
                [[listener]]
                address = "::1"
                port = 0
                [[subsystem]]
                nqn = "nqn.2026-11.io.vvolgate:x"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "memory"
                size = "64MiB"
                """);
        assertEquals(BASE.resolve("var"), c.stateDir());
        assertEquals(ConfigParser.DEFAULT_IO_THREADS, c.ioThreads());
        assertEquals(new ApplianceConfig.Listener("::1", 0, false), c.listeners().getFirst());
        assertEquals("vvolgate", c.subsystems().getFirst().model());
        assertEquals(new Namespace(1, Backend.MEMORY, null, 64L << 20, 512, 1), c.subsystems().getFirst().namespaces().getFirst());
    }

    @Test
    void theBuiltInDefaultIsTheDocumentedOne(@TempDir Path cwd) throws ConfigException {
        ApplianceConfig c = ConfigParser.loadDefault(cwd);
        assertEquals(cwd.resolve("var"), c.stateDir());
        assertEquals(List.of(new ApplianceConfig.Listener("127.0.0.1", 4420, false),
                new ApplianceConfig.Listener("127.0.0.1", 8009, true)), c.listeners());
        ApplianceConfig.Subsystem s = c.subsystems().getFirst();
        assertEquals("nqn.2026-11.io.vvolgate:default", s.nqn());
        assertTrue(s.allowAnyHost());
        assertEquals(List.of(new Namespace(1, Backend.FILE, cwd.resolve("var/default-ns1.img"), 1L << 30, 512, 1)), s.namespaces());
    }

    @Test
    void relativePathsAreRelativeToTheConfigFilesDirectory(@TempDir Path dir) throws IOException, ConfigException {
        Path file = Files.writeString(dir.resolve("vvolgate.toml"), valid("state_dir = \"var\"", "state_dir = \"../state\""));
        ApplianceConfig c = ConfigParser.load(file);
        assertEquals(dir.getParent().resolve("state"), c.stateDir());
        assertEquals(dir.getParent().resolve("state/demo.img"), c.subsystems().getFirst().namespaces().getFirst().path());
        ApplianceConfig abs = parse(valid("path = \"demo.img\"", "path = \"/dev/nvme0n1\""));
        assertEquals(Path.of("/dev/nvme0n1"), abs.subsystems().getFirst().namespaces().getFirst().path());
    }

    @Test
    void aMissingFileIsNamed(@TempDir Path dir) {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigParser.load(dir.resolve("nope.toml"), "nope.toml"));
        assertEquals(List.of("nope.toml: no such file"), e.problems());
    }

    @Test
    void sizesAcceptBytesAndBinaryUnitsOnly() throws ConfigException {
        for (String[] c : new String[][]{{"\"512MiB\"", "536870912"}, {"\"1G\"", "1073741824"}, {"\"2TiB\"", "2199023255552"},
                {"\"4096\"", "4096"}, {"\"8 KiB\"", "8192"}, {"1073741824", "1073741824"}, {"\"1gib\"", "1073741824"}}) {
            ApplianceConfig config = parse(valid("size = \"1GiB\"", "size = " + c[0]));
            assertEquals(Long.parseLong(c[1]), config.subsystems().getFirst().namespaces().getFirst().size(), c[0]);
        }
        assertRefused(valid("size = \"1GiB\"", "size = \"1.5GB\""),
                "vvolgate.toml:22: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo size \"1.5GB\" is not a size (use e.g. 512MiB or 1GiB)");
        assertRefused(valid("size = \"1GiB\"", "size = \"1GB\""),
                "vvolgate.toml:22: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo size \"1GB\" is not a size (use e.g. 512MiB or 1GiB)");
        assertRefused(valid("size = \"1GiB\"", "size = \"99999999999TiB\""),
                "vvolgate.toml:22: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo size \"99999999999TiB\" is not a size (use e.g. 512MiB or 1GiB)");
        assertRefused(valid("size = \"1GiB\"", "size = 0"),
                "vvolgate.toml:22: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo size must be more than 0");
        assertRefused(valid("size = \"1GiB\"", "size = 1.5"),
                "vvolgate.toml:22: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo size must be a number of bytes or a string such as \"1GiB\", not a decimal number");
        assertRefused(valid("size = \"1GiB\"", "size = 1000"),
                "vvolgate.toml:22: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo size 1000 is not a multiple of block_size 512 (e.g. 512)");
        assertRefused(valid("size = 1048576\nblock_size = 4096", "size = \"6KiB\"\nblock_size = 4096"),
                "vvolgate.toml:26: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo size 6144 is not a multiple of block_size 4096 (e.g. 4KiB)");
        assertRefused(valid("size = \"1GiB\"\n", ""),
                "vvolgate.toml:19: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo has no size (add e.g. size = \"1GiB\")");
    }

    @Test
    void tomlSyntaxErrorsCarryTheirLine() {
        List<String> p = problems(valid("port = 8009", "port = = 8009"));
        assertEquals(1, p.size(), p.toString());
        assertTrue(p.getFirst().startsWith("vvolgate.toml:11: TOML syntax: "), p.getFirst());
    }

    @Test
    void unknownKeysAreRefusedWithASuggestion() {
        assertRefused(valid("block_size = 4096", "blok_size = 4096"),
                "vvolgate.toml:27: unknown key \"blok_size\" in [[subsystem.namespace]] (did you mean \"block_size\"?)");
        assertRefused(valid("io_threads = 3", "io_threads = 3\nlog_level = \"debug\""),
                "vvolgate.toml:3: unknown key \"log_level\" in the top level (allowed: io_threads, listener, state_dir, subsystem)");
        assertRefused(valid("kind = \"io\"", "kind = \"io\"\ntls = true"),
                "vvolgate.toml:8: unknown key \"tls\" in [[listener]] (allowed: address, kind, port)");
        assertRefused(valid("model = \"vvolgate demo\"", "modle = \"x\""),
                "vvolgate.toml:17: unknown key \"modle\" in [[subsystem]] (did you mean \"model\"?)");
    }

    @Test
    void typesAreChecked() {
        assertRefused(valid("io_threads = 3", "io_threads = \"3\""),
                "vvolgate.toml:2: io_threads in the top level must be an integer, not a string");
        assertRefused(valid("port = 4420", "port = \"4420\""),
                "vvolgate.toml:6: port in [[listener]] must be an integer, not a string");
        assertRefused(valid("hosts = [", "allow_any_host = \"yes\"\nhosts = ["),
                "vvolgate.toml:16: allow_any_host in [[subsystem]] must be true or false, not a string");
        assertRefused(valid("state_dir = \"var\"", "state_dir = 1"),
                "vvolgate.toml:1: state_dir in the top level must be a string, not an integer");
        assertRefused(valid("hosts = [\"nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"]", "hosts = \"nqn.2014-08.org.nvmexpress:uuid:x\""),
                "vvolgate.toml:16: subsystem nqn.2026-11.io.vvolgate:demo hosts must be an array of host NQNs, not a string");
        assertRefused("[listener]\naddress = \"127.0.0.1\"\n",
                "vvolgate.toml:1: listener must be written as [[listener]] tables, not as a table");
    }

    @Test
    void rangesAndEnumerationsAreChecked() {
        assertRefused(valid("io_threads = 3", "io_threads = 0"), "vvolgate.toml:2: io_threads 0 is out of range (1..256)");
        assertRefused(valid("port = 4420", "port = 70000"), "vvolgate.toml:6: listener port 70000 is out of range (0..65535)");
        assertRefused(valid("kind = \"io\"", "kind = \"data\""), "vvolgate.toml:7: listener kind \"data\" is not \"io\" or \"discovery\"");
        assertRefused(valid("address = \"127.0.0.1\"\nport = 4420", "address = \"localhost\"\nport = 4420"),
                "vvolgate.toml:5: listener address \"localhost\" is not an IP address (use e.g. \"127.0.0.1\", \"0.0.0.0\" or \"::1\")");
        assertRefused(valid("backend = \"memory\"", "backend = \"ram\""),
                "vvolgate.toml:25: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo backend \"ram\" is not \"file\" or \"memory\"");
        assertRefused(valid("block_size = 4096", "block_size = 1024"),
                "vvolgate.toml:27: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo block_size 1024 is not 512 or 4096");
        assertRefused(valid("ana_group = 2", "ana_group = 0"),
                "vvolgate.toml:28: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo ana_group 0 is out of range (1..4294967294)");
        assertRefused(valid("backend = \"memory\"", "nsid = 0\nbackend = \"memory\""),
                "vvolgate.toml:25: namespace nsid 0 is out of range (1..4294967294)");
        assertRefused(valid("model = \"vvolgate demo\"", "model = \"" + "m".repeat(41) + "\""),
                "vvolgate.toml:17: subsystem nqn.2026-11.io.vvolgate:demo model \"" + "m".repeat(41) + "\" must be 1 to 40 printable ASCII characters");
    }

    @Test
    void nqnsAreChecked() {
        assertRefused(valid("nqn = \"nqn.2026-11.io.vvolgate:demo\"", "nqn = \"iqn.2026-11.io.vvolgate:demo\""),
                "vvolgate.toml:15: subsystem nqn \"iqn.2026-11.io.vvolgate:demo\" is not an NVMe qualified name (expected nqn.yyyy-mm.reverse.domain:name, e.g. nqn.2026-11.io.vvolgate:demo)");
        assertRefused(valid("nqn = \"nqn.2026-11.io.vvolgate:demo\"", "nqn = \"nqn.2014-08.org.nvmexpress.discovery\""),
                "vvolgate.toml:15: subsystem nqn nqn.2014-08.org.nvmexpress.discovery is reserved for the discovery service");
        String tooLong = "nqn.2026-11.io.vvolgate:" + "x".repeat(200);
        assertRefused(valid("nqn = \"nqn.2026-11.io.vvolgate:demo\"", "nqn = \"" + tooLong + "\""),
                "vvolgate.toml:15: subsystem nqn \"nqn.2026-11.io.vvolgate:xxxxxxxxxxxxx...\" is longer than 223 bytes");
        assertRefused(valid("hosts = [\"nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"]", "hosts = [\"host1\"]"),
                "vvolgate.toml:16: host nqn \"host1\" is not an NVMe qualified name (expected nqn.yyyy-mm.reverse.domain:name, e.g. nqn.2026-11.io.vvolgate:demo)");
        assertRefused(valid("hosts = [\"nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"]",
                        "hosts = [\"nqn.2014-08.org.nvmexpress:uuid:a\", \"nqn.2014-08.org.nvmexpress:uuid:a\"]"),
                "vvolgate.toml:16: subsystem nqn.2026-11.io.vvolgate:demo lists host nqn.2014-08.org.nvmexpress:uuid:a twice");
    }

    @Test
    void hostAccessMustBeSaidOnceAndClearly() {
        assertRefused(valid("hosts = [\"nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"]\n", ""),
                "vvolgate.toml:14: subsystem nqn.2026-11.io.vvolgate:demo admits no host: list host NQNs in hosts = [...] or set allow_any_host = true");
        assertRefused(valid("hosts = [", "allow_any_host = true\nhosts = ["),
                "vvolgate.toml:17: subsystem nqn.2026-11.io.vvolgate:demo lists hosts but also allows any host: remove hosts or set allow_any_host = false");
        assertRefused(valid("hosts = [\"nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6\"]", "hosts = []"),
                "vvolgate.toml:16: subsystem nqn.2026-11.io.vvolgate:demo has an empty hosts list: no host could connect (or set allow_any_host = true)");
    }

    @Test
    void duplicatesAreRefused() {
        String twoSubsystems = VALID + """

                [[subsystem]]
                nqn = "nqn.2026-11.io.vvolgate:demo"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "file"
                path = "./demo.img"
                size = "1GiB"
                """;
        List<String> p = problems(twoSubsystems);
        assertTrue(p.contains("vvolgate.toml:31: subsystem nqn.2026-11.io.vvolgate:demo is already defined at line 15"), p.toString());
        assertTrue(p.contains("vvolgate.toml:35: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo uses /srv/vvolgate/var/demo.img,"
                + " which namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo (line 21) uses already"), p.toString());

        assertRefused(valid("backend = \"memory\"", "nsid = 1\nbackend = \"memory\""),
                "vvolgate.toml:25: subsystem nqn.2026-11.io.vvolgate:demo has nsid 1 twice (first at line 19;"
                        + " without nsid = ..., namespaces are numbered 1, 2, 3... in order)");
        assertRefused(valid("port = 8009", "port = 4420"), "vvolgate.toml:9: listener 127.0.0.1:4420 is already defined at line 4");
    }

    @Test
    void backendAndPathMustAgree() {
        assertRefused(valid("size = 1048576", "path = \"ram.img\"\nsize = 1048576"),
                "vvolgate.toml:26: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo is in memory and cannot have a path (remove path or use backend = \"file\")");
        assertRefused(valid("path = \"demo.img\"\n", ""),
                "vvolgate.toml:19: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo has backend \"file\" but no path (add e.g. path = \"ns1.img\", relative to state_dir)");
        assertRefused(valid("backend = \"file\"\n", ""),
                "vvolgate.toml:19: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo has no backend (add backend = \"file\" or \"memory\")");
    }

    @Test
    void listenersAndSubsystemsAreRequired() {
        String noIo = valid("kind = \"io\"", "kind = \"discovery\"").replace("port = 4420", "port = 8010");
        assertRefused(noIo, "vvolgate.toml:4: no listener has kind = \"io\": hosts could find the subsystems but not connect to them");
        assertRefused("", "vvolgate.toml:1: no [[listener]]: add one with kind = \"io\" (e.g. address = \"127.0.0.1\", port = 4420)");
        assertRefused("", "vvolgate.toml:1: no [[subsystem]]: add one with an nqn and a [[subsystem.namespace]]");
        assertRefused(valid("address = \"127.0.0.1\"\nport = 4420\n", ""), "vvolgate.toml:4: listener has no address (add e.g. address = \"127.0.0.1\")");
        assertRefused(valid("nqn = \"nqn.2026-11.io.vvolgate:demo\"\n", ""),
                "vvolgate.toml:14: subsystem has no nqn (add e.g. nqn = \"nqn.2026-11.io.vvolgate:demo\")");
    }

    @Test
    void everyProblemIsReportedInFileOrder() {
        List<String> p = problems(valid("io_threads = 3", "io_threads = 0").replace("block_size = 4096", "block_size = 1"));
        assertEquals(List.of("vvolgate.toml:2: io_threads 0 is out of range (1..256)",
                "vvolgate.toml:27: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo block_size 1 is not 512 or 4096"), p);
    }

    @Test
    void byteSizeFormatsExactly() {
        assertEquals("1GiB", ByteSize.format(1L << 30));
        assertEquals("1536", ByteSize.format(1536));
        assertEquals("3KiB", ByteSize.format(3072));
        assertNull(ConfigParser.closest("zzzzzz", java.util.Set.of("nsid", "path")));
    }
}
