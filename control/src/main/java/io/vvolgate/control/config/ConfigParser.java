package io.vvolgate.control.config;

import io.vvolgate.control.config.ApplianceConfig.Backend;
import io.vvolgate.control.config.ApplianceConfig.Container;
import io.vvolgate.control.config.ApplianceConfig.VolumeRef;
import io.vvolgate.gateway.GatewaySpec;
import io.vvolgate.control.config.ApplianceConfig.Listener;
import io.vvolgate.control.config.ApplianceConfig.Namespace;
import io.vvolgate.control.config.ApplianceConfig.Subsystem;
import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseError;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlPosition;
import org.tomlj.TomlTable;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads the appliance configuration (TOML, format in {@code control/CONFIG.md}) and checks all of it
 * before anything starts: syntax, unknown keys, types, ranges, NQN syntax, duplicates and the rules that
 * tie keys together. Every problem found is reported, each as {@code file:line: problem}, so that an
 * administrator fixes a file in one round. Stateless; any thread.
 */
public final class ConfigParser {

    /** The configuration {@code serve} uses without {@code --config}; a classpath resource. */
    public static final String DEFAULT_RESOURCE = "/io/vvolgate/control/default.toml";
    public static final String DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery";
    public static final int DEFAULT_IO_THREADS = 2;
    public static final String DEFAULT_MODEL = "vvolgate";
    /** NVMe limits an NQN to 223 bytes of UTF-8. */
    public static final int NQN_MAX_BYTES = 223;
    /** Identify Controller's Model Number field: 40 ASCII bytes. */
    public static final int MODEL_MAX_BYTES = 40;

    /** A container's cluster size when the file does not say. */
    public static final int DEFAULT_CLUSTER_SIZE = GatewaySpec.DEFAULT_CLUSTER_SIZE;
    /** Smallest image a container may be created on: room for its metadata areas and some clusters. */
    public static final long MIN_CONTAINER_SIZE = 16L << 20;
    /** The storage engine keeps volume names of at most this many bytes of UTF-8. */
    public static final int VOLUME_NAME_MAX_BYTES = 1024;

    private static final Pattern NQN = Pattern.compile("nqn\\.\\d{4}-\\d{2}\\.[^\\s:]+(:\\S+)?");
    private static final Pattern CONTAINER_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private static final Set<String> TOP_KEYS = Set.of("state_dir", "io_threads", "file_io", "io_poll", "listener", "container", "subsystem", "api");
    private static final Set<String> API_KEYS = Set.of("address", "port", "tls_cert", "tls_key");
    private static final Set<String> LISTENER_KEYS = Set.of("address", "port", "kind");
    private static final Set<String> CONTAINER_KEYS = Set.of("name", "devices", "size", "cluster_size", "subsystem", "ana_group",
            "qos_iops_capacity");
    private static final Set<String> SUBSYSTEM_KEYS = Set.of("nqn", "allow_any_host", "hosts", "model", "namespace");
    private static final Set<String> NAMESPACE_KEYS = Set.of("nsid", "backend", "path", "size", "block_size", "ana_group",
            "container", "volume", "snapshot_of", "clone_of");

    private ConfigParser() {
    }

    /** Loads {@code file}; relative paths in it are relative to the file's directory. */
    public static ApplianceConfig load(Path file) throws ConfigException {
        return load(file, file.toString());
    }

    /**
     * Loads {@code file}, naming it {@code shownAs} in messages (the name the operator typed); relative
     * paths in it are relative to the file's directory.
     */
    public static ApplianceConfig load(Path file, String shownAs) throws ConfigException {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException(shownAs + ": no such file");
        } catch (IOException e) {
            throw new ConfigException(shownAs + ": cannot read: " + e.getMessage());
        }
        Path dir = file.toAbsolutePath().getParent();
        return parse(text, shownAs, dir);
    }

    /** Loads the built-in default; its relative paths are relative to {@code workingDir}. */
    public static ApplianceConfig loadDefault(Path workingDir) throws ConfigException {
        try (InputStream in = ConfigParser.class.getResourceAsStream(DEFAULT_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the build lost " + DEFAULT_RESOURCE);
            }
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), "default.toml (built in)", workingDir);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + DEFAULT_RESOURCE, e);
        }
    }

    /**
     * Parses {@code text}.
     *
     * @param source  the name messages start with
     * @param baseDir what a relative {@code state_dir} is relative to
     */
    public static ApplianceConfig parse(String text, String source, Path baseDir) throws ConfigException {
        TomlParseResult toml = Toml.parse(text);
        Problems problems = new Problems(source);
        if (toml.hasErrors()) {
            for (TomlParseError e : toml.errors()) {
                problems.add(e.position(), "TOML syntax: " + e.getMessage());
            }
            throw problems.exception();
        }
        ApplianceConfig config = new Reader(toml, problems, baseDir.toAbsolutePath().normalize()).read();
        if (!problems.isEmpty()) {
            throw problems.exception();
        }
        return config;
    }

    /** One parse: walks the document and records problems; returns null fields where a value was bad. */
    private static final class Reader {
        /** A file or device some part of the configuration stores data on; no two may share one. */
        private record PathUse(Path path, String user, TomlPosition at) {
        }

        private final TomlParseResult root;
        private final Problems problems;
        private final Path baseDir;
        private final List<PathUse> pathUses = new ArrayList<>();
        /** Container names defined (also those with other problems), to check what namespaces refer to. */
        private final Set<String> containerNames = new HashSet<>();

        Reader(TomlParseResult root, Problems problems, Path baseDir) {
            this.root = root;
            this.problems = problems;
            this.baseDir = baseDir;
        }

        ApplianceConfig read() {
            Section top = new Section(root, TomlPosition.positionAt(1, 1), "the top level", TOP_KEYS);
            top.checkKeys();
            String stateDirText = top.string("state_dir", "var");
            Path stateDir = baseDir;
            if (stateDirText != null) {
                if (stateDirText.isBlank()) {
                    problems.add(top.at("state_dir"), "state_dir is empty (use e.g. \"var\")");
                } else {
                    stateDir = baseDir.resolve(stateDirText).normalize();
                }
            }
            Long threads = top.integer("io_threads", (long) DEFAULT_IO_THREADS);
            if (threads != null && (threads < 1 || threads > 256)) {
                problems.add(top.at("io_threads"), "io_threads " + threads + " is out of range (1..256)");
            }
            String fileIo = top.string("file_io", "io_uring");
            if (fileIo != null && !fileIo.equals("io_uring") && !fileIo.equals("blocking")) {
                problems.add(top.at("file_io"), "file_io must be \"io_uring\" or \"blocking\", not \"" + fileIo + "\"");
            }
            Boolean ioPoll = top.bool("io_poll", false);
            List<Listener> listeners = readListeners(top);
            List<Container> containers = readContainers(top, stateDir);
            List<Subsystem> subsystems = readSubsystems(top, stateDir);
            ApplianceConfig.Api api = readApi(top, stateDir);
            checkPathsUsedOnce();
            return new ApplianceConfig(problems.source, stateDir, threads == null ? DEFAULT_IO_THREADS : threads.intValue(),
                    listeners, containers, subsystems, fileIo == null ? "io_uring" : fileIo, api == null ? ApplianceConfig.DEFAULT_API : api,
                    Boolean.TRUE.equals(ioPoll));
        }

        /** The {@code [api]} table; the default when absent; null (problem recorded) if bad. */
        private ApplianceConfig.Api readApi(Section top, Path stateDir) {
            Object v = root.get(List.of("api"));
            if (v == null) {
                return ApplianceConfig.DEFAULT_API;
            }
            if (!(v instanceof TomlTable table)) {
                problems.add(top.at("api"), "api must be a table: [api]");
                return null;
            }
            Section s = new Section(table, top.at("api"), "[api]", API_KEYS);
            s.checkKeys();
            String address = s.string("address", ApplianceConfig.DEFAULT_API.address());
            if (address != null && !isIpLiteral(address)) {
                problems.add(s.at("address"), "api address \"" + abbreviate(address) + "\" is not an IP address (e.g. \"127.0.0.1\")");
                address = null;
            }
            Long port = s.integer("port", (long) ApplianceConfig.DEFAULT_API.port());
            if (port != null && (port < 0 || port > 65535)) {
                problems.add(s.at("port"), "api port " + port + " is out of range (0..65535; 0 takes a free port)");
                port = null;
            }
            String cert = s.string("tls_cert", null);
            String key = s.string("tls_key", null);
            if ((cert == null) != (key == null)) {
                problems.add(s.header, "[api] needs both tls_cert and tls_key, or neither (a certificate is then generated)");
                return null;
            }
            if (address == null || port == null) {
                return null;
            }
            return new ApplianceConfig.Api(canonicalAddress(address), port.intValue(), cert == null ? null : stateDir.resolve(cert).normalize(),
                    key == null ? null : stateDir.resolve(key).normalize(), s.header.line());
        }

        /** Reports every use of a path after its first one in the file, naming the first. */
        private void checkPathsUsedOnce() {
            List<PathUse> inFileOrder = new ArrayList<>(pathUses);
            inFileOrder.sort(Comparator.comparingInt((PathUse u) -> u.at().line()).thenComparingInt(u -> u.at().column()));
            Map<Path, PathUse> first = new HashMap<>();
            for (PathUse use : inFileOrder) {
                PathUse previous = first.putIfAbsent(use.path(), use);
                if (previous != null) {
                    problems.add(use.at(), use.user() + " uses " + use.path() + ", which " + previous.user()
                            + " (line " + previous.at().line() + ") uses already");
                }
            }
        }

        private List<Container> readContainers(Section top, Path stateDir) {
            List<Container> containers = new ArrayList<>();
            List<Section> sections = top.arrayOfTables("container", "container", CONTAINER_KEYS);
            if (sections == null) {
                return containers;
            }
            Map<String, Integer> names = new HashMap<>();
            for (Section s : sections) {
                s.checkKeys();
                String name = s.string("name", null);
                if (name == null) {
                    if (!s.has("name")) {
                        problems.add(s.header, "container has no name (add e.g. name = \"pool\"; namespaces refer to it by name)");
                    }
                } else if (!CONTAINER_NAME.matcher(name).matches()) {
                    problems.add(s.at("name"), "container name \"" + abbreviate(name) + "\" must be 1 to 64 letters, digits,"
                            + " '.', '_' or '-', starting with a letter or digit");
                    containerNames.add(name); // refer to it without a second complaint
                    name = null;
                } else {
                    containerNames.add(name);
                    Integer first = names.putIfAbsent(name, s.at("name").line());
                    if (first != null) {
                        problems.add(s.at("name"), "container \"" + name + "\" is already defined at line " + first);
                        name = null;
                    }
                }
                String what = name == null ? "container" : "container \"" + name + "\"";
                List<Path> devices = readDevices(s, what, stateDir);
                Long size = s.has("size") ? readBytes(s, "size", what, false) : Long.valueOf(0); // 0: the image must exist
                if (size != null && size != 0 && size < MIN_CONTAINER_SIZE) {
                    problems.add(s.at("size"), what + " size " + size + " is too small for a container (at least "
                            + ByteSize.format(MIN_CONTAINER_SIZE) + ")");
                    size = null;
                } else if (size != null && size % 4096 != 0) {
                    problems.add(s.at("size"), what + " size " + size + " is not a multiple of 4KiB (e.g. "
                            + ByteSize.format(Math.max(MIN_CONTAINER_SIZE, size / 4096 * 4096)) + ")");
                    size = null;
                }
                Long clusterSize = readBytes(s, "cluster_size", what, false);
                if (clusterSize == null && !s.has("cluster_size")) {
                    clusterSize = (long) DEFAULT_CLUSTER_SIZE;
                } else if (clusterSize != null && (clusterSize < GatewaySpec.MIN_CLUSTER_SIZE || clusterSize > GatewaySpec.MAX_CLUSTER_SIZE
                        || Long.bitCount(clusterSize) != 1)) {
                    problems.add(s.at("cluster_size"), what + " cluster_size " + clusterSize
                            + " is not a power of two from 4KiB to 8MiB (e.g. \"64KiB\")");
                    clusterSize = null;
                }
                String subsystem = s.string("subsystem", name == null ? null : Container.defaultSubsystem(name));
                if (subsystem != null && s.has("subsystem") && !checkNqn(s.at("subsystem"), what + " subsystem", subsystem)) {
                    subsystem = null;
                }
                Long anaGroup = s.integer("ana_group", 1L);
                if (anaGroup != null && (anaGroup < 1 || anaGroup > 128)) {
                    problems.add(s.at("ana_group"), what + " ana_group " + anaGroup + " is out of range (1..128)");
                    anaGroup = null;
                }
                Long qos = s.integer("qos_iops_capacity", Container.DEFAULT_QOS_IOPS_CAPACITY);
                if (qos != null && qos < 0) {
                    problems.add(s.at("qos_iops_capacity"), what + " qos_iops_capacity " + qos + " is negative");
                    qos = null;
                }
                if (name != null && devices != null && size != null && clusterSize != null && subsystem != null && anaGroup != null
                        && qos != null) {
                    containers.add(new Container(name, devices, size, clusterSize.intValue(), s.header.line(), subsystem,
                            anaGroup.intValue(), qos));
                }
            }
            return containers;
        }

        /** A container's {@code devices}: absolute paths, recorded as used; null (problem recorded) if bad. */
        private List<Path> readDevices(Section s, String what, Path stateDir) {
            Object value = s.table.get(List.of("devices"));
            if (value == null) {
                problems.add(s.header, what + " has no devices (add e.g. devices = [\"pool.img\"], relative to state_dir)");
                return null;
            }
            if (!(value instanceof TomlArray array)) {
                problems.add(s.at("devices"), what + " devices must be an array of image or block-device paths, not " + typeName(value)
                        + " (e.g. devices = [\"pool.img\"])");
                return null;
            }
            if (array.isEmpty()) {
                problems.add(s.at("devices"), what + " has an empty devices list (give one image or block device, e.g. [\"pool.img\"])");
                return null;
            }
            if (array.size() > 2) {
                problems.add(s.at("devices"), what + " lists " + array.size() + " devices; a container has one, or two for a mirrored pair");
                return null;
            }
            List<Path> devices = new ArrayList<>();
            boolean ok = true;
            for (int i = 0; i < array.size(); i++) {
                Object device = array.get(i);
                TomlPosition at = array.inputPositionOf(i);
                if (!(device instanceof String text)) {
                    problems.add(at, what + " devices must hold strings (paths), not " + typeName(device));
                    ok = false;
                } else if (text.isBlank()) {
                    problems.add(at, what + " has an empty device path");
                    ok = false;
                } else {
                    Path path = stateDir.resolve(text).normalize();
                    pathUses.add(new PathUse(path, what, at));
                    devices.add(path);
                }
            }
            return ok ? devices : null;
        }

        private List<Listener> readListeners(Section top) {
            List<Listener> listeners = new ArrayList<>();
            List<Section> sections = top.arrayOfTables("listener", "listener", LISTENER_KEYS);
            if (sections == null) {
                return listeners;
            }
            Map<String, Integer> seen = new HashMap<>();
            boolean anyIo = false;
            for (Section s : sections) {
                s.checkKeys();
                String kind = s.string("kind", "io");
                boolean discovery = false;
                if (kind != null) {
                    switch (kind) {
                        case "io" -> anyIo = true;
                        case "discovery" -> discovery = true;
                        default -> problems.add(s.at("kind"), "listener kind \"" + kind + "\" is not \"io\" or \"discovery\"");
                    }
                }
                String address = s.string("address", null);
                if (address != null) {
                    if (!isIpLiteral(address)) {
                        problems.add(s.at("address"), "listener address \"" + address
                                + "\" is not an IP address (use e.g. \"127.0.0.1\", \"0.0.0.0\" or \"::1\")");
                        address = null;
                    }
                } else if (!s.has("address")) {
                    problems.add(s.header, "listener has no address (add e.g. address = \"127.0.0.1\")");
                }
                Long port = s.integer("port", null);
                if (port == null && !s.has("port")) {
                    problems.add(s.header, "listener has no port (NVMe/TCP uses 4420 for I/O and 8009 for discovery; 0 = any free port)");
                } else if (port != null && (port < 0 || port > 65535)) {
                    problems.add(s.at("port"), "listener port " + port + " is out of range (0..65535)");
                    port = null;
                }
                if (address != null && port != null) {
                    if (port != 0) {
                        String key = canonicalAddress(address) + " " + port;
                        Integer first = seen.putIfAbsent(key, s.header.line());
                        if (first != null) {
                            problems.add(s.header, "listener " + address + ":" + port + " is already defined at line " + first);
                        }
                    }
                    listeners.add(new Listener(address, port.intValue(), discovery));
                }
            }
            if (sections.isEmpty()) {
                problems.add(top.header, "no [[listener]]: add one with kind = \"io\" (e.g. address = \"127.0.0.1\", port = 4420)");
            } else if (!anyIo) {
                problems.add(sections.getFirst().header, "no listener has kind = \"io\": hosts could find the subsystems but not connect to them");
            }
            return listeners;
        }

        private List<Subsystem> readSubsystems(Section top, Path stateDir) {
            List<Subsystem> subsystems = new ArrayList<>();
            List<Section> sections = top.arrayOfTables("subsystem", "subsystem", SUBSYSTEM_KEYS);
            if (sections == null) {
                return subsystems;
            }
            if (sections.isEmpty() && !top.has("container")) {
                problems.add(top.header, "no [[subsystem]] and no [[container]]: add a subsystem with an nqn and a"
                        + " [[subsystem.namespace]], or a container whose volumes are bound to hosts through the API");
            }
            Map<String, Integer> nqns = new HashMap<>();
            Map<String, String> volumes = new HashMap<>();
            for (Section s : sections) {
                s.checkKeys();
                String nqn = s.string("nqn", null);
                if (nqn == null) {
                    if (!s.has("nqn")) {
                        problems.add(s.header, "subsystem has no nqn (add e.g. nqn = \"nqn.2026-11.io.vvolgate:demo\")");
                    }
                } else if (checkNqn(s.at("nqn"), "subsystem nqn", nqn)) {
                    Integer first = nqns.putIfAbsent(nqn, s.at("nqn").line());
                    if (first != null) {
                        problems.add(s.at("nqn"), "subsystem " + nqn + " is already defined at line " + first);
                    }
                }
                String name = nqn == null ? "subsystem" : "subsystem " + nqn;
                Boolean anyHost = s.bool("allow_any_host", false);
                List<String> hosts = readHosts(s, name);
                if (anyHost != null && anyHost && !hosts.isEmpty()) {
                    problems.add(s.at("hosts"), name + " lists hosts but also allows any host: remove hosts or set allow_any_host = false");
                } else if (anyHost != null && !anyHost && hosts.isEmpty() && !s.has("hosts")) {
                    problems.add(s.header, name + " admits no host: list host NQNs in hosts = [...] or set allow_any_host = true");
                }
                String model = s.string("model", DEFAULT_MODEL);
                if (model != null && (model.isEmpty() || model.length() > MODEL_MAX_BYTES
                        || !model.chars().allMatch(c -> c >= 0x20 && c < 0x7f))) {
                    problems.add(s.at("model"), name + " model \"" + model + "\" must be 1 to " + MODEL_MAX_BYTES
                            + " printable ASCII characters");
                    model = DEFAULT_MODEL;
                }
                List<Namespace> namespaces = readNamespaces(s, name, stateDir, volumes);
                if (nqn != null && anyHost != null && model != null) {
                    subsystems.add(new Subsystem(nqn, anyHost, hosts, model, namespaces));
                }
            }
            return subsystems;
        }

        private List<String> readHosts(Section s, String name) {
            List<String> hosts = new ArrayList<>();
            Object value = s.table.get(List.of("hosts"));
            if (value == null) {
                return hosts;
            }
            if (!(value instanceof TomlArray array)) {
                problems.add(s.at("hosts"), name + " hosts must be an array of host NQNs, not " + typeName(value));
                return hosts;
            }
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < array.size(); i++) {
                Object host = array.get(i);
                TomlPosition at = array.inputPositionOf(i);
                if (!(host instanceof String nqn)) {
                    problems.add(at, name + " hosts must hold strings (host NQNs), not " + typeName(host));
                } else if (checkNqn(at, "host nqn", nqn)) {
                    if (!seen.add(nqn)) {
                        problems.add(at, name + " lists host " + nqn + " twice");
                    } else {
                        hosts.add(nqn);
                    }
                }
            }
            if (array.isEmpty()) {
                problems.add(s.at("hosts"), name + " has an empty hosts list: no host could connect (or set allow_any_host = true)");
            }
            return hosts;
        }

        /** {@code volumes}: "container/volume" of the volumes exported so far, to the namespace exporting it. */
        private List<Namespace> readNamespaces(Section subsystem, String name, Path stateDir, Map<String, String> volumes) {
            List<Namespace> namespaces = new ArrayList<>();
            List<Section> sections = subsystem.arrayOfTables("namespace", "subsystem.namespace", NAMESPACE_KEYS);
            if (sections == null) {
                return namespaces;
            }
            Map<Long, Integer> nsids = new HashMap<>();
            for (int i = 0; i < sections.size(); i++) {
                Section s = sections.get(i);
                s.checkKeys();
                Long nsid = s.integer("nsid", (long) i + 1);
                if (nsid != null && (nsid < 1 || nsid > 0xFFFF_FFFEL)) {
                    problems.add(s.at("nsid"), "namespace nsid " + nsid + " is out of range (1..4294967294)");
                    nsid = null;
                }
                if (nsid != null) {
                    Integer first = nsids.putIfAbsent(nsid, s.header.line());
                    if (first != null) {
                        problems.add(s.has("nsid") ? s.at("nsid") : s.header, name + " has nsid " + nsid
                                + " twice (first at line " + first + "; without nsid = ..., namespaces are numbered 1, 2, 3... in order)");
                    }
                }
                String what = "namespace" + (nsid == null ? "" : " " + nsid) + " of " + name;

                Backend backend = null;
                String backendText = s.string("backend", null);
                if (backendText == null) {
                    if (!s.has("backend")) {
                        problems.add(s.header, what + " has no backend (add backend = \"file\", \"memory\" or \"volume\")");
                    }
                } else if (backendText.equals("file")) {
                    backend = Backend.FILE;
                } else if (backendText.equals("memory")) {
                    backend = Backend.MEMORY;
                } else if (backendText.equals("volume")) {
                    backend = Backend.VOLUME;
                } else {
                    problems.add(s.at("backend"), what + " backend \"" + backendText + "\" is not \"file\", \"memory\" or \"volume\"");
                }

                Long blockSize = s.integer("block_size", 512L);
                if (blockSize != null && blockSize != 512 && blockSize != 4096) {
                    problems.add(s.at("block_size"), what + " block_size " + blockSize + " is not 512 or 4096");
                    blockSize = null;
                }

                Long size = readBytes(s, "size", what, true);
                if (size != null && blockSize != null && size % blockSize != 0) {
                    problems.add(s.at("size"), what + " size " + size + " is not a multiple of block_size " + blockSize
                            + " (e.g. " + ByteSize.format(Math.max(blockSize, size / blockSize * blockSize)) + ")");
                }

                Long anaGroup = s.integer("ana_group", 1L);
                if (anaGroup != null && (anaGroup < 1 || anaGroup > 0xFFFF_FFFEL)) {
                    problems.add(s.at("ana_group"), what + " ana_group " + anaGroup + " is out of range (1..4294967294)");
                    anaGroup = null;
                }

                Path path = null;
                String pathText = s.string("path", null);
                if (backend == Backend.MEMORY && s.has("path")) {
                    problems.add(s.at("path"), what + " is in memory and cannot have a path (remove path or use backend = \"file\")");
                } else if (backend == Backend.VOLUME && s.has("path")) {
                    problems.add(s.at("path"), what + " is a volume of a container and cannot have a path (its data lives on the"
                            + " container's devices; remove path)");
                } else if (backend == Backend.FILE && pathText == null && !s.has("path")) {
                    problems.add(s.header, what + " has backend \"file\" but no path (add e.g. path = \"ns" + (nsid == null ? 1 : nsid)
                            + ".img\", relative to state_dir)");
                } else if (pathText != null && pathText.isBlank()) {
                    problems.add(s.at("path"), what + " path is empty");
                } else if (backend == Backend.FILE && pathText != null) {
                    path = stateDir.resolve(pathText).normalize();
                    pathUses.add(new PathUse(path, what, s.at("path")));
                }

                VolumeRef volume = readVolumeRef(s, what, backend, volumes);

                if (nsid != null && backend != null && size != null && blockSize != null && anaGroup != null
                        && (backend == Backend.MEMORY || path != null || volume != null)) {
                    namespaces.add(new Namespace(nsid.intValue(), backend, path, size, blockSize.intValue(), anaGroup.intValue(), volume));
                }
            }
            return namespaces;
        }

        /**
         * The {@code container} and {@code volume} keys: required for a volume namespace, refused for the
         * others. Null if absent or bad (problem recorded).
         */
        private VolumeRef readVolumeRef(Section s, String what, Backend backend, Map<String, String> volumes) {
            String container = s.string("container", null);
            String volume = s.string("volume", null);
            if (backend != Backend.VOLUME) {
                for (String key : List.of("container", "volume", "snapshot_of", "clone_of")) {
                    if (backend != null && s.has(key)) {
                        problems.add(s.at(key), what + " has backend \"" + backend.key() + "\"; " + key
                                + " applies only to backend = \"volume\"");
                    }
                }
                return null;
            }
            if (container == null && !s.has("container")) {
                problems.add(s.header, what + " has backend \"volume\" but no container (add container = \"<name of a [[container]]>\")");
            } else if (container != null && !containerNames.contains(container)) {
                problems.add(s.at("container"), what + " names container \"" + abbreviate(container) + "\", which no [[container]] defines"
                        + (containerNames.isEmpty() ? "" : " (defined: " + String.join(", ", containerNames.stream().sorted().toList()) + ")"));
                container = null;
            }
            if (volume == null && !s.has("volume")) {
                problems.add(s.header, what + " has backend \"volume\" but no volume (add e.g. volume = \"vm1\"; it is created if the"
                        + " container has no volume of that name)");
            } else if (volume != null && (volume.isBlank() || volume.getBytes(StandardCharsets.UTF_8).length > VOLUME_NAME_MAX_BYTES
                    || volume.chars().anyMatch(Character::isISOControl))) {
                problems.add(s.at("volume"), what + " volume name \"" + abbreviate(volume) + "\" must be 1 to " + VOLUME_NAME_MAX_BYTES
                        + " bytes without control characters");
                volume = null;
            }
            if (container == null || volume == null) {
                return null;
            }
            String key = container + "/" + volume;
            String here = what + " (line " + s.at("volume").line() + ")";
            String previous = volumes.putIfAbsent(key, here);
            if (previous != null) {
                problems.add(s.at("volume"), what + " exports volume \"" + volume + "\" of container \"" + container + "\", which "
                        + previous + " exports already (a volume is one namespace)");
                return null;
            }
            String snapshotOf = s.string("snapshot_of", null);
            String cloneOf = s.string("clone_of", null);
            if (snapshotOf != null && cloneOf != null) {
                problems.add(s.at("clone_of"), what + " has both snapshot_of and clone_of; a volume is made one way");
                return null;
            }
            String origin = snapshotOf != null ? snapshotOf : cloneOf;
            if (origin != null && origin.equals(volume)) {
                problems.add(s.at(snapshotOf != null ? "snapshot_of" : "clone_of"), what + " cannot be made from itself");
                return null;
            }
            return new VolumeRef(container, volume, s.header.line(), s.at("size").line(), snapshotOf, cloneOf);
        }

        /**
         * A byte count under {@code key}: an integer or a size string such as "1GiB", more than 0. Null if
         * absent (a problem if {@code required}) or bad (problem recorded).
         */
        private Long readBytes(Section s, String key, String what, boolean required) {
            Object value = s.table.get(List.of(key));
            if (value == null) {
                if (required) {
                    problems.add(s.header, what + " has no " + key + " (add e.g. " + key + " = \"1GiB\")");
                }
                return null;
            }
            long size;
            if (value instanceof Long n) {
                size = n;
            } else if (value instanceof String text) {
                OptionalLong parsed = ByteSize.parse(text);
                if (parsed.isEmpty()) {
                    problems.add(s.at(key), what + " " + key + " \"" + text + "\" is not a size (use e.g. 512MiB or 1GiB)");
                    return null;
                }
                size = parsed.getAsLong();
            } else {
                problems.add(s.at(key), what + " " + key + " must be a number of bytes or a string such as \"1GiB\", not "
                        + typeName(value));
                return null;
            }
            if (size <= 0) {
                problems.add(s.at(key), what + " " + key + " must be more than 0");
                return null;
            }
            return size;
        }

        private boolean checkNqn(TomlPosition at, String what, String nqn) {
            if (nqn.getBytes(StandardCharsets.UTF_8).length > NQN_MAX_BYTES) {
                problems.add(at, what + " \"" + abbreviate(nqn) + "\" is longer than " + NQN_MAX_BYTES + " bytes");
                return false;
            }
            if (!NQN.matcher(nqn).matches()) {
                problems.add(at, what + " \"" + nqn + "\" is not an NVMe qualified name (expected nqn.yyyy-mm.reverse.domain:name,"
                        + " e.g. nqn.2026-11.io.vvolgate:demo)");
                return false;
            }
            if (nqn.equals(DISCOVERY_NQN)) {
                problems.add(at, what + " " + nqn + " is reserved for the discovery service");
                return false;
            }
            return true;
        }

        /**
         * A table with its position and the keys it may hold. Typed getters record a problem and return
         * null when a value has the wrong type; they return the default when the key is absent.
         */
        private final class Section {
            final TomlTable table;
            final TomlPosition header;
            final String name;
            final Set<String> allowed;

            Section(TomlTable table, TomlPosition header, String name, Set<String> allowed) {
                this.table = table;
                this.header = header;
                this.name = name;
                this.allowed = allowed;
            }

            boolean has(String key) {
                return table.get(List.of(key)) != null;
            }

            TomlPosition at(String key) {
                TomlPosition p = table.inputPositionOf(List.of(key));
                return p == null ? header : p;
            }

            void checkKeys() {
                for (String key : table.keySet()) {
                    if (!allowed.contains(key)) {
                        String hint = closest(key, allowed);
                        problems.add(at(key), "unknown key \"" + key + "\" in " + name
                                + (hint == null ? " (allowed: " + String.join(", ", allowed.stream().sorted().toList()) + ")"
                                : " (did you mean \"" + hint + "\"?)"));
                    }
                }
            }

            String string(String key, String dflt) {
                return typed(key, dflt, String.class, "a string");
            }

            Long integer(String key, Long dflt) {
                return typed(key, dflt, Long.class, "an integer");
            }

            Boolean bool(String key, Boolean dflt) {
                return typed(key, dflt, Boolean.class, "true or false");
            }

            /** The value under {@code key} if it has type {@code type}; {@code dflt} if absent; null (problem recorded) if not. */
            private <T> T typed(String key, T dflt, Class<T> type, String expected) {
                Object v = table.get(List.of(key));
                if (v == null) {
                    return dflt;
                }
                if (type.isInstance(v)) {
                    return type.cast(v);
                }
                problems.add(at(key), key + " in " + name + " must be " + expected + ", not " + typeName(v));
                return null;
            }

            /** The tables of {@code [[header]]}; an empty list if absent, null (problem recorded) if malformed. */
            List<Section> arrayOfTables(String key, String header, Set<String> keys) {
                Object v = table.get(List.of(key));
                if (v == null) {
                    return List.of();
                }
                if (!(v instanceof TomlArray array) || !array.toList().stream().allMatch(e -> e instanceof TomlTable)) {
                    problems.add(at(key), key + " must be written as [[" + header + "]] tables, not as " + typeName(v));
                    return null;
                }
                List<Section> sections = new ArrayList<>();
                for (int i = 0; i < array.size(); i++) {
                    sections.add(new Section((TomlTable) array.get(i), array.inputPositionOf(i), "[[" + header + "]]", keys));
                }
                return sections;
            }
        }
    }

    private static boolean isIpLiteral(String address) {
        try {
            InetAddress.ofLiteral(address);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static String canonicalAddress(String address) {
        return InetAddress.ofLiteral(address).getHostAddress();
    }

    static String typeName(Object v) {
        return switch (v) {
            case String s -> "a string";
            case Long n -> "an integer";
            case Double d -> "a decimal number";
            case Boolean b -> "true/false";
            case TomlArray a -> "an array";
            case TomlTable t -> "a table";
            default -> "a date/time";
        };
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }

    /** The allowed key a typo most likely meant, or null if none is close. */
    static String closest(String key, Set<String> allowed) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : allowed) {
            int d = distance(key.toLowerCase(java.util.Locale.ROOT), candidate);
            if (d < bestDistance) {
                bestDistance = d;
                best = candidate;
            }
        }
        return bestDistance <= Math.max(2, key.length() / 3) ? best : null;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** Problems in file order, each prefixed with {@code source:line:}. */
    private static final class Problems {
        private record Problem(int line, int column, String message) {
        }

        final String source;
        private final List<Problem> list = new ArrayList<>();

        Problems(String source) {
            this.source = source;
        }

        void add(TomlPosition at, String message) {
            list.add(new Problem(at == null ? 0 : at.line(), at == null ? 0 : at.column(), message));
        }

        boolean isEmpty() {
            return list.isEmpty();
        }

        ConfigException exception() {
            return new ConfigException(list.stream()
                    .sorted(Comparator.comparingInt(Problem::line).thenComparingInt(Problem::column))
                    .map(p -> source + ":" + p.line() + ": " + p.message())
                    .distinct()
                    .toList());
        }
    }
}
