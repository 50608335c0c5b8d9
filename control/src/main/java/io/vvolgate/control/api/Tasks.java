package io.vvolgate.control.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.DoubleSupplier;

/**
 * Long operations (full clone, delete, resync): each is a task with a progress the caller polls with
 * {@code getTaskUpdate}. Tasks live in memory; the work they follow does not (a full clone's copy resumes
 * by itself after a restart, with its progress visible on the volume).
 */
final class Tasks {
    private static final int KEPT = 1000;

    private static final class Task {
        final String id = "task-" + UUID.randomUUID();
        final String operation;
        final String objectId;
        final Instant startedAt = Instant.now();
        final DoubleSupplier progress;
        volatile Instant finishedAt;
        volatile JsonObject result;
        volatile JsonObject error;

        Task(String operation, String objectId, DoubleSupplier progress) {
            this.operation = operation;
            this.objectId = objectId;
            this.progress = progress;
        }

        JsonObject json() {
            boolean done = finishedAt != null;
            double p = done ? (error == null ? 1.0 : safe()) : Math.min(0.99, safe());
            return new JsonObject().put("id", id).put("operation", operation).put("objectId", objectId)
                    .put("state", !done ? "running" : error == null ? "success" : "error").put("progress", p)
                    .put("startedAt", startedAt.toString()).put("finishedAt", done ? finishedAt.toString() : null)
                    .put("result", result).put("error", error);
        }

        private double safe() {
            try {
                return Math.max(0, Math.min(1, progress.getAsDouble()));
            } catch (RuntimeException gone) {
                return 0;
            }
        }
    }

    private final Map<String, Task> tasks = new LinkedHashMap<>();

    /** A task following {@code work}: done when it completes, with {@code result}, or failed with its error. */
    synchronized JsonObject start(String operation, String objectId, DoubleSupplier progress, CompletableFuture<JsonObject> work) {
        Task t = new Task(operation, objectId, progress);
        tasks.put(t.id, t);
        if (tasks.size() > KEPT) {
            tasks.remove(tasks.keySet().iterator().next());
        }
        work.whenComplete((result, failure) -> {
            if (failure != null) {
                Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                        ? failure.getCause() : failure;
                String code = cause instanceof ApiError a ? a.code() : "task_failed";
                t.error = new JsonObject().put("code", code).put("message", String.valueOf(cause.getMessage()));
            } else {
                t.result = result;
            }
            t.finishedAt = Instant.now();
        });
        return t.json();
    }

    synchronized JsonObject get(String id) {
        Task t = tasks.get(id);
        if (t == null) {
            throw ApiError.notFound("task_not_found", "there is no task " + id);
        }
        return t.json();
    }

    synchronized JsonArray list() {
        List<Task> all = new ArrayList<>(tasks.values());
        JsonArray out = new JsonArray();
        for (int i = all.size() - 1; i >= 0; i--) {
            out.add(all.get(i).json());
        }
        return out;
    }
}
