package io.vvolgate.control.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;

/**
 * Every change made through the API, with who, what and when: one JSON object per line in
 * {@code audit.log}, appended and synced before the change is answered, so the log never misses an
 * acknowledged change. The newest entries are kept in memory for {@code getAuditLog}.
 */
public final class AuditLog implements AutoCloseable {
    private static final int KEPT = 10_000;
    private final FileChannel out;
    private final ArrayDeque<JsonObject> recent = new ArrayDeque<>();

    AuditLog(Path dir) throws IOException {
        Path file = dir.resolve("audit.log");
        if (Files.exists(file)) {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            for (String line : lines.subList(Math.max(0, lines.size() - KEPT), lines.size())) {
                try {
                    recent.addLast(new JsonObject(line));
                } catch (RuntimeException torn) {
                    // A line cut by a crash: the change it describes was not answered.
                }
            }
        }
        out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    synchronized void record(String user, String operation, String target, String outcome, String detail) {
        JsonObject e = new JsonObject().put("time", Instant.now().toString()).put("user", user).put("operation", operation)
                .put("target", target).put("outcome", outcome).put("detail", detail);
        try {
            out.write(ByteBuffer.wrap((e.encode() + "\n").getBytes(StandardCharsets.UTF_8)));
            out.force(false);
        } catch (IOException ex) {
            throw new ApiError(500, "audit_log_unwritable", "the audit log cannot be written (" + ex.getMessage()
                    + "); changes are refused until it can");
        }
        recent.addLast(e);
        if (recent.size() > KEPT) {
            recent.removeFirst();
        }
    }

    /** The newest {@code limit} entries, newest first. */
    synchronized JsonArray newest(int limit) {
        JsonArray a = new JsonArray();
        Iterator<JsonObject> it = recent.descendingIterator();
        while (it.hasNext() && a.size() < limit) {
            a.add(it.next().copy());
        }
        return a;
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
