package io.vvolgate.control.cli;

import io.vertx.core.json.JsonObject;

/** Following a task ({@code getTaskUpdate}) to its end, and how one reads. */
final class Tasks {
    private Tasks() {
    }

    /**
     * Asks for the task until it is no longer running, telling stderr as the progress moves (every 10%, so a
     * log stays short); returns the finished task, or fails with the task's own error.
     */
    static JsonObject await(Ctl ctl, ApiClient api, JsonObject task) {
        String id = task.getString("id");
        long shown = -1;
        while ("running".equals(task.getString("state"))) {
            long tenth = (long) Math.floor(task.getDouble("progress", 0.0) * 10);
            if (tenth != shown) {
                ctl.err.println(Ctl.PREFIX + Human.shortId(id) + " " + task.getString("operation") + " "
                        + Human.percent(task.getDouble("progress", 0.0)));
                shown = tenth;
            }
            ctl.sleepPoll();
            task = api.getObject("/api/tasks/" + ApiClient.segment(id));
        }
        if ("error".equals(task.getString("state"))) {
            JsonObject e = task.getJsonObject("error");
            String code = e == null ? "task_failed" : e.getString("code", "task_failed");
            String message = e == null ? "the task failed" : e.getString("message", "the task failed");
            throw CtlException.refused(code, "task " + id + " (" + task.getString("operation") + ") failed: " + message);
        }
        return task;
    }

    static Fields fields(JsonObject t, CtlCommand c) {
        Fields f = new Fields()
                .add("Task", c.id(t.getString("id")))
                .add("Operation", t.getString("operation"))
                .add("Object", t.getString("objectId") == null ? null : c.id(t.getString("objectId")))
                .add("State", t.getString("state"))
                .add("Progress", Human.percent(t.getDouble("progress", 0.0)))
                .add("Started", Human.time(t.getString("startedAt")))
                .add("Finished", Human.time(t.getString("finishedAt")));
        JsonObject result = t.getJsonObject("result");
        if (result != null) {
            result.forEach(e -> f.add("Result " + e.getKey(), e.getValue()));
        }
        JsonObject error = t.getJsonObject("error");
        if (error != null) {
            f.add("Error", error.getString("message") + " (" + error.getString("code") + ")");
        }
        return f;
    }
}
