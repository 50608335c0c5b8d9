package io.vvolgate.control.api;

import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The control plane's durable state that the volume engine does not hold (users and their password
 * hashes, capability profiles, hosts, which profile each volume follows, bindings): one JSON document,
 * replaced atomically on every change (written to a temporary file, synced, renamed over the old one,
 * directory synced), so a crash leaves the old or the new document, never a torn one. It is small (a
 * few hundred bytes per volume) and changes only on control operations, so rewriting it whole is cheap
 * and keeps it readable by an operator.
 */
final class StateFile {
    private final Path file;

    StateFile(Path dir) throws IOException {
        Files.createDirectories(dir);
        this.file = dir.resolve("state.json");
    }

    Path path() {
        return file;
    }

    /** The stored document, or an empty one on first start. */
    JsonObject load() throws IOException {
        if (!Files.exists(file)) {
            return new JsonObject();
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            return new JsonObject(text);
        } catch (RuntimeException e) {
            throw new IOException(file + " is not valid JSON (" + e.getMessage() + "); restore it from a backup or fix it by hand", e);
        }
    }

    void save(JsonObject state) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        byte[] bytes = state.encodePrettily().getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
        syncDirectory(file.getParent());
    }

    static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Some file systems cannot sync a directory; the rename is then as durable as they make it.
        }
    }
}
