package io.vvolgate.control.identity;

import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ApplianceConfig.Backend;
import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;

/**
 * The identities hosts know the appliance's devices by: a serial number per subsystem, an NGUID and a
 * UUID per namespace. ESXi and Linux name devices after them, so they are created once, at random, and
 * kept in {@code state_dir/identity.toml}; a restart serves the same ones.
 *
 * <p>A namespace keeps its identity only while it is the same data: when the configuration changes its
 * backend or block size, or points it at a different image (not the same file under a new name), it gets
 * a new identity and {@link #assign} says so. Records of subsystems and namespaces no longer configured
 * are kept, so taking a namespace out and putting it back does not change how hosts see it.
 *
 * <p>The file is replaced atomically: written to a temporary file, synced, renamed over the old one, and
 * the directory synced, so a crash leaves the old or the new version, never a torn one. File format:
 *
 * <pre>
 * version = 1
 * [[subsystem]]
 * nqn = "nqn.2026-11.io.vvolgate:demo"
 * serial = "VVG3F0A9C41D27E8B65"          # Identify Controller SN: at most 20 ASCII bytes
 * [[subsystem.namespace]]
 * nsid = 1
 * uuid = "6a1f..."                          # Namespace Identification Descriptor, type 3
 * nguid = "9c2e...32 hex digits"            # Identify Namespace NGUID, 16 bytes
 * backend = "file"                          # what the identity was given to, to notice a change
 * path = "/abs/var/demo.img"
 * block_size = 512
 * file_key = "(dev=803,ino=1234)"           # the image's inode once it exists: a renamed image is the same data
 * </pre>
 *
 * <p>Threads: used by the one thread that starts the appliance.
 */
public final class IdentityStore {

    public static final String FILE_NAME = "identity.toml";
    private static final int FORMAT_VERSION = 1;
    private static final int SERIAL_LENGTH = 20;

    /** A namespace's identity and what it was given to. */
    public record NamespaceIdentity(UUID uuid, byte[] nguid, Backend backend, Path path, int blockSize, String fileKey) {
        public NamespaceIdentity {
            Objects.requireNonNull(uuid);
            nguid = nguid.clone();
        }

        @Override
        public byte[] nguid() {
            return nguid.clone();
        }

        NamespaceIdentity withFileKey(Path newPath, String key) {
            return new NamespaceIdentity(uuid, nguid, backend, newPath, blockSize, key);
        }
    }

    private static final class SubsystemRecord {
        final String serial;
        final TreeMap<Integer, NamespaceIdentity> namespaces = new TreeMap<>();

        SubsystemRecord(String serial) {
            this.serial = serial;
        }
    }

    private final Path file;
    private final Map<String, SubsystemRecord> subsystems = new LinkedHashMap<>();
    private final SecureRandom random;
    private boolean changed;

    private IdentityStore(Path file, SecureRandom random) {
        this.file = file;
        this.random = random;
    }

    public Path file() {
        return file;
    }

    /** Loads {@code stateDir/identity.toml}, or starts empty if there is none yet. */
    public static IdentityStore load(Path stateDir) throws IdentityException {
        return load(stateDir, new SecureRandom());
    }

    static IdentityStore load(Path stateDir, SecureRandom random) throws IdentityException {
        IdentityStore store = new IdentityStore(stateDir.resolve(FILE_NAME), random);
        String text;
        try {
            text = Files.readString(store.file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return store;
        } catch (IOException e) {
            throw new IdentityException("cannot read " + store.file + ": " + e.getMessage(), e);
        }
        store.read(text);
        return store;
    }

    private void read(String text) throws IdentityException {
        TomlParseResult toml = Toml.parse(text);
        if (toml.hasErrors()) {
            var e = toml.errors().getFirst();
            throw corrupt(e.position().line(), e.getMessage());
        }
        Long version = toml.getLong("version");
        if (version == null || version != FORMAT_VERSION) {
            throw corrupt(1, "unknown format version " + version + " (this vvolgate reads version " + FORMAT_VERSION + ")");
        }
        TomlArray subs = toml.getArrayOrEmpty("subsystem");
        for (int i = 0; i < subs.size(); i++) {
            int line = subs.inputPositionOf(i).line();
            if (!(subs.get(i) instanceof TomlTable sub)) {
                throw corrupt(line, "subsystem is not a table");
            }
            String nqn = requireString(sub, "nqn", line);
            String serial = requireString(sub, "serial", line);
            if (subsystems.putIfAbsent(nqn, new SubsystemRecord(serial)) != null) {
                throw corrupt(line, "subsystem " + nqn + " appears twice");
            }
            TomlArray nss = sub.getArrayOrEmpty("namespace");
            for (int j = 0; j < nss.size(); j++) {
                int nsLine = nss.inputPositionOf(j).line();
                if (!(nss.get(j) instanceof TomlTable ns)) {
                    throw corrupt(nsLine, "namespace is not a table");
                }
                Long nsid = ns.getLong("nsid");
                if (nsid == null) {
                    throw corrupt(nsLine, "namespace has no nsid");
                }
                NamespaceIdentity id;
                try {
                    UUID uuid = UUID.fromString(requireString(ns, "uuid", nsLine));
                    byte[] nguid = HexFormat.of().parseHex(requireString(ns, "nguid", nsLine));
                    if (nguid.length != 16) {
                        throw corrupt(nsLine, "nguid is not 32 hex digits");
                    }
                    Backend backend = Backend.valueOf(requireString(ns, "backend", nsLine).toUpperCase(java.util.Locale.ROOT));
                    String path = ns.getString("path");
                    Long blockSize = ns.getLong("block_size");
                    id = new NamespaceIdentity(uuid, nguid, backend, path == null ? null : Path.of(path),
                            blockSize == null ? 0 : blockSize.intValue(), ns.getString("file_key"));
                } catch (IllegalArgumentException | org.tomlj.TomlInvalidTypeException e) {
                    throw corrupt(nsLine, e.getMessage());
                }
                if (subsystems.get(nqn).namespaces.putIfAbsent(nsid.intValue(), id) != null) {
                    throw corrupt(nsLine, "namespace " + nsid + " of " + nqn + " appears twice");
                }
            }
        }
    }

    private String requireString(TomlTable table, String key, int line) throws IdentityException {
        Object v = table.get(List.of(key));
        if (!(v instanceof String s)) {
            throw corrupt(line, "missing or malformed " + key);
        }
        return s;
    }

    private IdentityException corrupt(int line, String problem) {
        return new IdentityException(file + ":" + line + ": " + problem
                + " (the identity file is damaged; restore it from a backup rather than deleting it:"
                + " without it hosts see new devices)");
    }

    /**
     * Gives every configured subsystem and namespace its identity: the recorded one if it still fits,
     * else a new one. Returns warnings for the operator, one sentence each (empty when nothing changed
     * that hosts would notice). Call {@link #save} afterwards; nothing is written here.
     */
    public List<String> assign(ApplianceConfig config) {
        List<String> warnings = new ArrayList<>();
        for (ApplianceConfig.Subsystem s : config.subsystems()) {
            SubsystemRecord record = subsystems.get(s.nqn());
            if (record == null) {
                record = new SubsystemRecord(newSerial());
                subsystems.put(s.nqn(), record);
                changed = true;
            }
            for (ApplianceConfig.Namespace ns : s.namespaces()) {
                String what = "namespace " + Integer.toUnsignedString(ns.nsid()) + " of " + s.nqn();
                NamespaceIdentity old = record.namespaces.get(ns.nsid());
                String reason = old == null ? null : reasonForNewIdentity(old, ns);
                if (old != null && reason == null) {
                    if (ns.backend() == Backend.FILE && !ns.path().equals(old.path())) {
                        // Same file under another name (checked by its inode): keep the identity.
                        record.namespaces.put(ns.nsid(), old.withFileKey(ns.path(), old.fileKey()));
                        changed = true;
                        warnings.add(what + " now uses " + ns.path() + ", the same image as " + old.path()
                                + " under a new name: it keeps its identity");
                    }
                    continue;
                }
                if (reason != null) {
                    warnings.add(what + ": " + reason + "; it gets a new NGUID and UUID, so hosts will see a new device");
                }
                record.namespaces.put(ns.nsid(), newNamespaceIdentity(ns));
                changed = true;
            }
        }
        for (ApplianceConfig.Container c : config.containers()) {
            // A container's protocol endpoint subsystem, when the file does not configure it: a serial too.
            if (c.subsystem() != null && !subsystems.containsKey(c.subsystem())) {
                subsystems.put(c.subsystem(), new SubsystemRecord(newSerial()));
                changed = true;
            }
        }
        return warnings;
    }

    /** Null if {@code old} still names the data {@code ns} describes, else why not. */
    private static String reasonForNewIdentity(NamespaceIdentity old, ApplianceConfig.Namespace ns) {
        if (old.backend() != ns.backend()) {
            return "its backend changed from " + old.backend().key() + " to " + ns.backend().key();
        }
        if (old.blockSize() != ns.blockSize()) {
            return "its block size changed from " + old.blockSize() + " to " + ns.blockSize();
        }
        if (ns.backend() != Backend.FILE) {
            return null; // memory starts empty on every start; the namespace, not its data, keeps the identity
        }
        String nowKey = fileKey(ns.path());
        if (ns.path().equals(old.path())) {
            if (old.fileKey() != null && nowKey == null) {
                return "its image " + ns.path() + " is missing and will be created empty";
            }
            return null;
        }
        if (old.fileKey() != null && old.fileKey().equals(nowKey)) {
            return null;
        }
        return "its image changed from " + old.path() + " to " + ns.path();
    }

    /**
     * Records the inode of every configured file image that now exists (call after the gateway created
     * them), so that a later rename is recognised as the same data. Call {@link #save} afterwards.
     */
    public void recordImages(ApplianceConfig config) {
        for (ApplianceConfig.Subsystem s : config.subsystems()) {
            SubsystemRecord record = subsystems.get(s.nqn());
            if (record == null) {
                continue;
            }
            for (ApplianceConfig.Namespace ns : s.namespaces()) {
                NamespaceIdentity id = record.namespaces.get(ns.nsid());
                if (id == null || ns.backend() != Backend.FILE) {
                    continue;
                }
                String key = fileKey(ns.path());
                if (key != null && !key.equals(id.fileKey())) {
                    record.namespaces.put(ns.nsid(), id.withFileKey(ns.path(), key));
                    changed = true;
                }
            }
        }
    }

    private NamespaceIdentity newNamespaceIdentity(ApplianceConfig.Namespace ns) {
        Set<UUID> uuids = new HashSet<>();
        Set<String> nguids = new HashSet<>();
        for (SubsystemRecord r : subsystems.values()) {
            for (NamespaceIdentity id : r.namespaces.values()) {
                uuids.add(id.uuid());
                nguids.add(HexFormat.of().formatHex(id.nguid()));
            }
        }
        UUID uuid;
        byte[] nguid = new byte[16];
        do {
            uuid = randomUuid();
        } while (uuids.contains(uuid));
        do {
            random.nextBytes(nguid);
        } while (nguids.contains(HexFormat.of().formatHex(nguid)) || isZero(nguid));
        return new NamespaceIdentity(uuid, nguid, ns.backend(), ns.path(), ns.blockSize(), fileKey(ns.path()));
    }

    private UUID randomUuid() {
        byte[] b = new byte[16];
        random.nextBytes(b);
        b[6] = (byte) ((b[6] & 0x0f) | 0x40); // version 4
        b[8] = (byte) ((b[8] & 0x3f) | 0x80); // IETF variant
        ByteBuffer bb = ByteBuffer.wrap(b);
        return new UUID(bb.getLong(), bb.getLong());
    }

    private String newSerial() {
        Set<String> used = new HashSet<>();
        subsystems.values().forEach(r -> used.add(r.serial));
        String serial;
        do {
            byte[] b = new byte[(SERIAL_LENGTH - 3 + 1) / 2];
            random.nextBytes(b);
            serial = ("VVG" + HexFormat.of().withUpperCase().formatHex(b)).substring(0, SERIAL_LENGTH);
        } while (used.contains(serial));
        return serial;
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true; // an all-zero NGUID means "not reported"
    }

    private static String fileKey(Path path) {
        if (path == null) {
            return null;
        }
        try {
            Object key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
            return key == null ? null : key.toString();
        } catch (IOException e) {
            return null;
        }
    }

    /** The serial number of {@code nqn}; {@link #assign} must have seen it. */
    public String serial(String nqn) {
        SubsystemRecord r = subsystems.get(nqn);
        if (r == null) {
            throw new IllegalStateException("no identity assigned to " + nqn);
        }
        return r.serial;
    }

    /** The identity of namespace {@code nsid} of {@code nqn}; {@link #assign} must have seen it. */
    public NamespaceIdentity namespace(String nqn, int nsid) {
        SubsystemRecord r = subsystems.get(nqn);
        NamespaceIdentity id = r == null ? null : r.namespaces.get(nsid);
        if (id == null) {
            throw new IllegalStateException("no identity assigned to namespace " + nsid + " of " + nqn);
        }
        return id;
    }

    /** True if {@link #save} has something to write. */
    public boolean changed() {
        return changed;
    }

    /** Writes the file if anything changed: temp file, fsync, rename over the old one, fsync the directory. */
    public void save() throws IdentityException {
        if (!changed) {
            return;
        }
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = dir.resolve(FILE_NAME + ".tmp");
        byte[] bytes = render().getBytes(StandardCharsets.UTF_8);
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the file system of " + dir + " cannot rename atomically", e);
            }
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        } catch (IOException e) {
            throw new IdentityException("cannot write " + file + ": " + e.getMessage(), e);
        }
        changed = false;
    }

    String render() {
        StringBuilder out = new StringBuilder()
                .append("# vvolgate identities: the serial numbers, NGUIDs and UUIDs hosts know the devices by.\n")
                .append("# Created once and kept; written by vvolgate. Back it up with the images; do not delete it.\n")
                .append("version = ").append(FORMAT_VERSION).append('\n');
        for (Map.Entry<String, SubsystemRecord> e : subsystems.entrySet()) {
            out.append("\n[[subsystem]]\n");
            out.append("nqn = ").append(quote(e.getKey())).append('\n');
            out.append("serial = ").append(quote(e.getValue().serial)).append('\n');
            for (Map.Entry<Integer, NamespaceIdentity> n : e.getValue().namespaces.entrySet()) {
                NamespaceIdentity id = n.getValue();
                out.append("\n[[subsystem.namespace]]\n");
                out.append("nsid = ").append(Integer.toUnsignedString(n.getKey())).append('\n');
                out.append("uuid = ").append(quote(id.uuid().toString())).append('\n');
                out.append("nguid = ").append(quote(HexFormat.of().formatHex(id.nguid()))).append('\n');
                out.append("backend = ").append(quote(id.backend().key())).append('\n');
                if (id.path() != null) {
                    out.append("path = ").append(quote(id.path().toString())).append('\n');
                }
                out.append("block_size = ").append(id.blockSize()).append('\n');
                if (id.fileKey() != null) {
                    out.append("file_key = ").append(quote(id.fileKey())).append('\n');
                }
            }
        }
        return out.toString();
    }

    private static String quote(String s) {
        return "\"" + Toml.tomlEscape(s) + "\"";
    }
}
