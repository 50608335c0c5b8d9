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
        ApplianceConfig.Container pool = c.containers().getFirst();
        assertEquals("default", pool.name());
        assertEquals(List.of(cwd.resolve("var/default-a.img"), cwd.resolve("var/default-b.img")), pool.devices(),
                "a mirrored pair of sparse images");
        assertEquals(2L << 30, pool.size());
        Namespace ns = s.namespaces().getFirst();
        assertEquals(1, ns.nsid());
        assertEquals(Backend.VOLUME, ns.backend());
        assertEquals("default", ns.volume().container());
        assertEquals("demo", ns.volume().name());
        assertEquals(1L << 30, ns.size());
        assertEquals(512, ns.blockSize());
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
                "vvolgate.toml:3: unknown key \"log_level\" in the top level (allowed: api, container, file_io, io_poll, io_threads, listener, state_dir, subsystem)");
        assertRefused(valid("kind = \"io\"", "kind = \"io\"\ntls = true"),
                "vvolgate.toml:8: unknown key \"tls\" in [[listener]] (allowed: address, kind, port)");
        assertRefused(valid("model = \"vvolgate demo\"", "modle = \"x\""),
                "vvolgate.toml:17: unknown key \"modle\" in [[subsystem]] (did you mean \"model\"?)");
    }

    @Test
    void fileIoChoosesTheFileBackendAndDefaultsToIoUring() throws ConfigException {
        assertEquals("io_uring", parse(VALID).fileIo());
        assertEquals("blocking", parse(valid("io_threads = 3", "io_threads = 3\nfile_io = \"blocking\"")).fileIo());
        assertEquals("io_uring", parse(valid("io_threads = 3", "io_threads = 3\nfile_io = \"io_uring\"")).fileIo());
        assertRefused(valid("io_threads = 3", "io_threads = 3\nfile_io = \"aio\""),
                "vvolgate.toml:3: file_io must be \"io_uring\" or \"blocking\", not \"aio\"");
    }

    @Test
    void ioPollIsOffUnlessAsked() throws ConfigException {
        assertFalse(parse(VALID).ioPoll());
        assertTrue(parse(valid("io_threads = 3", "io_threads = 3\nio_poll = true")).ioPoll());
        assertRefused(valid("io_threads = 3", "io_threads = 3\nio_poll = \"yes\""),
                "vvolgate.toml:3: io_poll in the top level must be true or false, not a string");
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
                "vvolgate.toml:25: namespace 2 of subsystem nqn.2026-11.io.vvolgate:demo backend \"ram\" is not \"file\", \"memory\" or \"volume\"");
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
                "vvolgate.toml:19: namespace 1 of subsystem nqn.2026-11.io.vvolgate:demo has no backend (add backend = \"file\", \"memory\" or \"volume\")");
    }

    @Test
    void listenersAndSubsystemsAreRequired() {
        String noIo = valid("kind = \"io\"", "kind = \"discovery\"").replace("port = 4420", "port = 8010");
        assertRefused(noIo, "vvolgate.toml:4: no listener has kind = \"io\": hosts could find the subsystems but not connect to them");
        assertRefused("", "vvolgate.toml:1: no [[listener]]: add one with kind = \"io\" (e.g. address = \"127.0.0.1\", port = 4420)");
        assertRefused("", "vvolgate.toml:1: no [[subsystem]] and no [[container]]: add a subsystem with an nqn and a [[subsystem.namespace]], or a container whose volumes are bound to hosts through the API");
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

    /** Containers and volume namespaces; the tests below refer to its line numbers. */
    private static final String VOLUMES = """
            state_dir = "var"

            [[listener]]
            address = "127.0.0.1"
            port = 4420

            [[container]]
            name = "pool"
            devices = ["pool.img"]
            size = "64GiB"

            [[container]]
            name = "archive"
            devices = ["/dev/sdb"]
            cluster_size = "1MiB"

            [[subsystem]]
            nqn = "nqn.2026-11.io.vvolgate:vms"
            allow_any_host = true

            [[subsystem.namespace]]
            backend = "volume"
            container = "pool"
            volume = "vm1"
            size = "100GiB"

            [[subsystem.namespace]]
            backend = "volume"
            container = "archive"
            volume = "backup"
            size = "1TiB"
            block_size = 4096

            [[subsystem.namespace]]
            backend = "file"
            path = "plain.img"
            size = "1GiB"
            """;

    private static final String VMS = "nqn.2026-11.io.vvolgate:vms";

    /** VOLUMES with {@code from} replaced by {@code to} (which must occur once). */
    private static String volumes(String from, String to) {
        assertEquals(VOLUMES.indexOf(from), VOLUMES.lastIndexOf(from), from);
        assertTrue(VOLUMES.contains(from), from);
        return VOLUMES.replace(from, to);
    }

    @Test
    void readsContainersAndVolumeNamespaces() throws ConfigException {
        ApplianceConfig c = parse(VOLUMES);
        assertEquals(List.of(
                new ApplianceConfig.Container("pool", List.of(Path.of("/srv/vvolgate/var/pool.img")), 64L << 30, 64 << 10, 7),
                new ApplianceConfig.Container("archive", List.of(Path.of("/dev/sdb")), 0, 1 << 20, 12)), c.containers());
        List<Namespace> ns = c.subsystems().getFirst().namespaces();
        assertEquals(new Namespace(1, Backend.VOLUME, null, 100L << 30, 512, 1, new ApplianceConfig.VolumeRef("pool", "vm1", 21, 25)),
                ns.get(0));
        assertEquals(new Namespace(2, Backend.VOLUME, null, 1L << 40, 4096, 1, new ApplianceConfig.VolumeRef("archive", "backup", 27, 31)),
                ns.get(1));
        assertEquals(new Namespace(3, Backend.FILE, Path.of("/srv/vvolgate/var/plain.img"), 1L << 30, 512, 1), ns.get(2));
        assertEquals(List.of(), parse(VALID).containers());
        assertEquals(ConfigParser.DEFAULT_CLUSTER_SIZE, parse(volumes("cluster_size = \"1MiB\"\n", "")).containers().get(1).clusterSize());
        assertEquals(65536, parse(volumes("cluster_size = \"1MiB\"", "cluster_size = 65536")).containers().get(1).clusterSize());
    }

    @Test
    void snapshotAndCloneNamespacesNameTheirOrigin() throws ConfigException {
        ApplianceConfig c = parse(volumes("volume = \"backup\"", "volume = \"backup\"\nsnapshot_of = \"vm1\""));
        assertEquals("vm1", c.subsystems().getFirst().namespaces().get(1).volume().snapshotOf());
        ApplianceConfig d = parse(volumes("volume = \"backup\"", "volume = \"backup\"\nclone_of = \"vm1-snap\""));
        assertEquals("vm1-snap", d.subsystems().getFirst().namespaces().get(1).volume().cloneOf());
        assertRefused(volumes("volume = \"backup\"", "volume = \"backup\"\nsnapshot_of = \"vm1\"\nclone_of = \"x\""),
                "vvolgate.toml:32: namespace 2 of subsystem " + VMS + " has both snapshot_of and clone_of; a volume is made one way");
        assertRefused(volumes("volume = \"backup\"", "volume = \"backup\"\nsnapshot_of = \"backup\""),
                "vvolgate.toml:31: namespace 2 of subsystem " + VMS + " cannot be made from itself");
        assertRefused(volumes("path = \"plain.img\"", "path = \"plain.img\"\nsnapshot_of = \"vm1\""),
                "vvolgate.toml:37: namespace 3 of subsystem " + VMS + " has backend \"file\"; snapshot_of applies only to backend = \"volume\"");
    }

    @Test
    void containerKeysAreChecked() {
        assertRefused(volumes("name = \"pool\"\n", ""),
                "vvolgate.toml:7: container has no name (add e.g. name = \"pool\"; namespaces refer to it by name)");
        assertRefused(volumes("name = \"pool\"", "name = \"my pool\""),
                "vvolgate.toml:8: container name \"my pool\" must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
        assertRefused(volumes("name = \"archive\"", "name = \"pool\""),
                "vvolgate.toml:13: container \"pool\" is already defined at line 8");
        assertRefused(volumes("cluster_size = \"1MiB\"", "clustersize = \"1MiB\""),
                "vvolgate.toml:15: unknown key \"clustersize\" in [[container]] (did you mean \"cluster_size\"?)");
        assertRefused(volumes("devices = [\"pool.img\"]\n", ""),
                "vvolgate.toml:7: container \"pool\" has no devices (add e.g. devices = [\"pool.img\"], relative to state_dir)");
        assertRefused(volumes("devices = [\"pool.img\"]", "devices = \"pool.img\""),
                "vvolgate.toml:9: container \"pool\" devices must be an array of image or block-device paths, not a string (e.g. devices = [\"pool.img\"])");
        assertRefused(volumes("devices = [\"pool.img\"]", "devices = []"),
                "vvolgate.toml:9: container \"pool\" has an empty devices list (give one image or block device, e.g. [\"pool.img\"])");
        assertRefused(volumes("devices = [\"pool.img\"]", "devices = [\"a.img\", \"b.img\", \"c.img\"]"),
                "vvolgate.toml:9: container \"pool\" lists 3 devices; a container has one, or two for a mirrored pair");
        assertRefused(volumes("devices = [\"pool.img\"]", "devices = [\"\"]"),
                "vvolgate.toml:9: container \"pool\" has an empty device path");
        assertRefused(volumes("devices = [\"pool.img\"]", "devices = [1]"),
                "vvolgate.toml:9: container \"pool\" devices must hold strings (paths), not an integer");
        assertRefused(volumes("size = \"64GiB\"", "size = \"8MiB\""),
                "vvolgate.toml:10: container \"pool\" size 8388608 is too small for a container (at least 16MiB)");
        assertRefused(volumes("size = \"64GiB\"", "size = 16777728"),
                "vvolgate.toml:10: container \"pool\" size 16777728 is not a multiple of 4KiB (e.g. 16MiB)");
        assertRefused(volumes("size = \"64GiB\"", "size = \"64GB\""),
                "vvolgate.toml:10: container \"pool\" size \"64GB\" is not a size (use e.g. 512MiB or 1GiB)");
        for (String bad : List.of("\"48KiB\"", "\"2KiB\"", "\"16MiB\"")) {
            List<String> p = problems(volumes("cluster_size = \"1MiB\"", "cluster_size = " + bad));
            assertEquals(1, p.size(), p.toString());
            assertTrue(p.getFirst().startsWith("vvolgate.toml:15: container \"archive\" cluster_size "), p.getFirst());
            assertTrue(p.getFirst().endsWith(" is not a power of two from 4KiB to 8MiB (e.g. \"64KiB\")"), p.getFirst());
        }
        assertRefused("[container]\nname = \"pool\"\n",
                "vvolgate.toml:1: container must be written as [[container]] tables, not as a table");
    }

    @Test
    void aMirroredPairIsTwoDevices() throws ConfigException {
        ApplianceConfig c = parse(volumes("devices = [\"pool.img\"]", "devices = [\"a.img\", \"/dev/sdc\"]"));
        assertEquals(List.of(Path.of("/srv/vvolgate/var/a.img"), Path.of("/dev/sdc")), c.containers().getFirst().devices());
        assertRefused(volumes("devices = [\"pool.img\"]", "devices = [\"a.img\", \"./a.img\"]"),
                "vvolgate.toml:9: container \"pool\" uses /srv/vvolgate/var/a.img, which container \"pool\" (line 9) uses already");
    }

    @Test
    void volumeNamespacesAreChecked() {
        assertRefused(volumes("volume = \"vm1\"", "volume = \"vm1\"\npath = \"vm1.img\""),
                "vvolgate.toml:25: namespace 1 of subsystem " + VMS + " is a volume of a container and cannot have a path"
                        + " (its data lives on the container's devices; remove path)");
        assertRefused(volumes("container = \"pool\"\n", ""),
                "vvolgate.toml:21: namespace 1 of subsystem " + VMS + " has backend \"volume\" but no container"
                        + " (add container = \"<name of a [[container]]>\")");
        assertRefused(volumes("container = \"pool\"", "container = \"pol\""),
                "vvolgate.toml:23: namespace 1 of subsystem " + VMS + " names container \"pol\", which no [[container]] defines"
                        + " (defined: archive, pool)");
        assertRefused(volumes("volume = \"vm1\"\n", ""),
                "vvolgate.toml:21: namespace 1 of subsystem " + VMS + " has backend \"volume\" but no volume"
                        + " (add e.g. volume = \"vm1\"; it is created if the container has no volume of that name)");
        assertRefused(volumes("volume = \"vm1\"", "volume = \"\""),
                "vvolgate.toml:24: namespace 1 of subsystem " + VMS + " volume name \"\" must be 1 to 1024 bytes without control characters");
        assertRefused(volumes("path = \"plain.img\"", "path = \"plain.img\"\ncontainer = \"pool\""),
                "vvolgate.toml:37: namespace 3 of subsystem " + VMS + " has backend \"file\"; container applies only to backend = \"volume\"");
        assertRefused(volumes("volume = \"vm1\"\nsize = \"100GiB\"\n", "volume = \"vm1\"\n"),
                "vvolgate.toml:21: namespace 1 of subsystem " + VMS + " has no size (add e.g. size = \"1GiB\")");
    }

    @Test
    void aVolumeIsExportedOnceAndAPathStoresOneThing() {
        assertRefused(volumes("container = \"archive\"\nvolume = \"backup\"", "container = \"pool\"\nvolume = \"vm1\""),
                "vvolgate.toml:30: namespace 2 of subsystem " + VMS + " exports volume \"vm1\" of container \"pool\", which namespace 1 of"
                        + " subsystem " + VMS + " (line 24) exports already (a volume is one namespace)");
        assertRefused(volumes("devices = [\"/dev/sdb\"]", "devices = [\"pool.img\"]"),
                "vvolgate.toml:14: container \"archive\" uses /srv/vvolgate/var/pool.img, which container \"pool\" (line 9) uses already");
        assertRefused(volumes("path = \"plain.img\"", "path = \"./pool.img\""),
                "vvolgate.toml:36: namespace 3 of subsystem " + VMS + " uses /srv/vvolgate/var/pool.img, which container \"pool\""
                        + " (line 9) uses already");
        // A container written after the namespaces: still found, and the clash is reported at the later line.
        assertRefused(VOLUMES + "\n[[container]]\nname = \"late\"\ndevices = [\"plain.img\"]\n",
                "vvolgate.toml:41: container \"late\" uses /srv/vvolgate/var/plain.img, which namespace 3 of subsystem " + VMS
                        + " (line 36) uses already");
    }

    @Test
    void byteSizeFormatsExactly() {
        assertEquals("1GiB", ByteSize.format(1L << 30));
        assertEquals("1536", ByteSize.format(1536));
        assertEquals("3KiB", ByteSize.format(3072));
        assertNull(ConfigParser.closest("zzzzzz", java.util.Set.of("nsid", "path")));
    }
}
