package io.vvolgate.control.cli;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

/**
 * What {@code ctl login} keeps between commands: the appliance's URL, how to trust its certificate, who
 * logged in, and the bearer token. The file ({@code ~/.config/vvolgate/ctl.json}, or
 * {@code $VVOLGATE_CTL_CONFIG}) is readable by its owner only, because the token is as good as the password
 * until the session expires.
 *
 * @param token    null after {@code ctl logout}
 * @param caFile   a PEM file of certificates to trust (the appliance's own, or its CA), or null
 * @param insecure trust any certificate (for a first look at a self-signed appliance only)
 */
record StoredLogin(String url, String username, String token, String caFile, boolean insecure) {

    static final String CONFIG_ENV = "VVOLGATE_CTL_CONFIG";

    /** {@code $VVOLGATE_CTL_CONFIG}, else {@code $XDG_CONFIG_HOME/vvolgate/ctl.json}, else {@code ~/.config/vvolgate/ctl.json}. */
    static Path path(Map<String, String> env) {
        String explicit = env.get(CONFIG_ENV);
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        String xdg = env.get("XDG_CONFIG_HOME");
        Path base = xdg != null && !xdg.isEmpty() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".config");
        return base.resolve("vvolgate").resolve("ctl.json");
    }

    /** The stored login, or null if there is none. */
    static StoredLogin load(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw CtlException.refused("config_unreadable", "cannot read " + file + ": " + e.getMessage());
        }
        try {
            JsonObject o = new JsonObject(text);
            return new StoredLogin(o.getString("url"), o.getString("username"), o.getString("token"), o.getString("ca"),
                    o.getBoolean("insecure", false));
        } catch (DecodeException | ClassCastException e) {
            throw CtlException.refused("config_unreadable", file + " is not a ctl login file (" + e.getMessage()
                    + "); delete it and log in again");
        }
    }

    /** Writes the file owner-only (0600) and atomically: a half-written login is worse than none. */
    void save(Path file) {
        JsonObject o = new JsonObject().put("url", url).put("username", username).put("token", token);
        if (caFile != null) {
            o.put("ca", caFile);
        }
        if (insecure) {
            o.put("insecure", true);
        }
        try {
            Path dir = file.toAbsolutePath().getParent();
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            }
            Path tmp = dir.resolve(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            try {
                Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (FileAlreadyExistsException e) {
                throw new IOException(tmp + " appeared while writing it", e);
            }
            Files.writeString(tmp, o.encodePrettily() + "\n", StandardCharsets.UTF_8);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw CtlException.refused("config_unwritable", "cannot write " + file + ": " + e.getMessage());
        }
    }

    StoredLogin withoutToken() {
        return new StoredLogin(url, username, null, caFile, insecure);
    }
}
