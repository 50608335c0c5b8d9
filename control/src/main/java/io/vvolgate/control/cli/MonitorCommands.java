package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.Locale;

/** Protocol endpoints, devices, tasks, events, alarms, the audit log and performance. */
final class MonitorCommands {
    private MonitorCommands() {
    }

    @Command(name = "pe", description = "Protocol endpoints (an ANA group on a container's subsystem and its listeners).",
            subcommands = PeList.class)
    static final class Pe implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    @Command(name = "list", aliases = "ls", description = "Protocol endpoints [queryProtocolEndpoint].")
    static final class PeList extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/protocol-endpoints");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Names names = names();
            Table t = new Table().left("ID").left("CONTAINER").left("SUBSYSTEM").right("ANA GROUP").left("ANA STATE").left("TRANSPORT")
                    .left("ADDRESSES").right("BOUND VVOLS");
            for (JsonObject p : Names.objects(all)) {
                java.util.List<String> addresses = Names.objects(p.getJsonArray("addresses")).stream()
                        .map(a -> a.getString("address") + ":" + a.getInteger("port")).toList();
                t.row(p.getString("id"), names.containerName(p.getString("containerId")), p.getString("subsystemNqn"),
                        p.getInteger("anaGroupId"), p.getString("anaState"), p.getString("transport"),
                        addresses.isEmpty() ? "-" : String.join(",", addresses), p.getInteger("boundVvols"));
            }
            t.print(out(), "no protocol endpoints");
        }
    }

    @Command(name = "device", description = "The devices under the storage containers.", subcommands = DeviceList.class)
    static final class Device implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    @Command(name = "list", aliases = "ls", description = "Devices with their health [queryDevices].")
    static final class DeviceList extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/devices");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Names names = names();
            Table t = new Table().left("PATH").left("CONTAINER").left("ROLE").left("STATE").right("SIZE").right("RESYNC").left("ID");
            for (JsonObject d : Names.objects(all)) {
                Double resync = d.getDouble("resyncProgress");
                Long size = d.getLong("sizeBytes");
                t.row(d.getString("path"), names.containerName(d.getString("containerId")), d.getString("role"), d.getString("state"),
                        size == null ? null : Human.size(size), resync == null ? null : Human.percent(resync), id(d.getString("id")));
            }
            t.print(out(), "no devices");
        }
    }

    @Command(name = "task", description = "Long operations (full clones, deletions) and their progress.",
            subcommands = {TaskList.class, TaskShow.class})
    static final class Task implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    @Command(name = "list", aliases = "ls", description = "Tasks, newest first [queryTasks].")
    static final class TaskList extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/tasks");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("ID").left("OPERATION").left("OBJECT").left("STATE").right("PROGRESS").left("STARTED")
                    .left("FINISHED").left("ERROR");
            for (JsonObject x : Names.objects(all)) {
                JsonObject e = x.getJsonObject("error");
                t.row(id(x.getString("id")), x.getString("operation"), id(x.getString("objectId")), x.getString("state"),
                        Human.percent(x.getDouble("progress", 0.0)), Human.time(x.getString("startedAt")),
                        Human.time(x.getString("finishedAt")), e == null ? null : e.getString("message"));
            }
            t.print(out(), "no tasks");
        }
    }

    @Command(name = "show", description = "One task and its progress; --wait follows it to its end [getTaskUpdate].")
    static final class TaskShow extends CtlCommand {
        @Parameters(paramLabel = "TASK", description = "ID or ID prefix")
        String task;

        @Option(names = "--wait", description = "wait until the task ends, showing its progress; exit 1 if it fails")
        boolean await;

        @Override
        void execute() {
            JsonObject t = api().getObject("/api/tasks/" + ApiClient.segment(names().task(task)));
            printTask(t, await);
        }
    }

    @Command(name = "event", description = "Events: what happened, oldest first.", subcommands = EventList.class)
    static final class Event implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    @Command(name = "list", aliases = "ls", description = "Events, oldest first; --follow keeps printing new ones [getEvents].")
    static final class EventList extends CtlCommand {
        @Option(names = "--since", paramLabel = "ID", description = "only events after this one")
        Long since;

        @Option(names = "--limit", paramLabel = "N", description = "at most N events (1..1000)")
        Integer limit;

        @Option(names = {"--follow", "-f"}, description = "keep asking for new events until interrupted (Ctrl-C)")
        boolean follow;

        @Override
        void execute() {
            JsonArray first = api().getArray("/api/events", ApiClient.query("since", since, "limit", limit));
            Table t = table();
            if (json()) {
                printJsonLines(first);
            } else {
                Names.objects(first).forEach(e -> row(t, e));
                if (!follow || t.size() > 0) {
                    t.print(out(), "no events");
                }
            }
            if (!follow) {
                return;
            }
            long last = lastId(first, since == null ? 0 : since);
            while (!Thread.currentThread().isInterrupted()) {
                ctl().sleepPoll();
                JsonArray more = api().getArray("/api/events", ApiClient.query("since", last));
                if (more.isEmpty()) {
                    continue;
                }
                if (json()) {
                    printJsonLines(more);
                } else {
                    // Rows as they come: no header again, so columns are padded to a fixed width per row.
                    Names.objects(more).forEach(e -> out().println(line(e)));
                }
                out().flush();
                last = lastId(more, last);
            }
        }

        /** With --follow, one JSON object a line (so a program reads them as they come); else the API's array. */
        private void printJsonLines(JsonArray events) {
            if (follow) {
                Names.objects(events).forEach(e -> out().println(e.encode()));
            } else {
                ctl().printJson(events);
            }
        }

        private static long lastId(JsonArray events, long before) {
            long last = before;
            for (JsonObject e : Names.objects(events)) {
                last = Math.max(last, e.getLong("id"));
            }
            return last;
        }

        private Table table() {
            return new Table().right("ID").left("TIME").left("SEVERITY").left("TYPE").left("OBJECT").left("MESSAGE");
        }

        private void row(Table t, JsonObject e) {
            t.row(e.getLong("id"), Human.time(e.getString("time")), e.getString("severity"), e.getString("type"),
                    id(e.getString("objectId")), e.getString("message"));
        }

        private String line(JsonObject e) {
            return String.format(Locale.ROOT, "%6d  %s  %-8s  %-20s  %-8s  %s", e.getLong("id"), Human.time(e.getString("time")),
                    e.getString("severity"), e.getString("type"), id(e.getString("objectId")), e.getString("message"));
        }
    }

    @Command(name = "alarm", description = "Alarms: conditions that need an operator (capacity, device failure, non-compliance,"
            + " a host lost).", subcommands = {AlarmList.class, AlarmAck.class})
    static final class Alarm implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    @Command(name = "list", aliases = "ls", description = "Alarms [getAlarms].")
    static final class AlarmList extends CtlCommand {
        @Option(names = "--active", arity = "0..1", paramLabel = "BOOL", fallbackValue = "true",
                description = "only active alarms (--active=false: only cleared ones)")
        Boolean active;

        @Override
        void execute() {
            JsonArray all = api().getArray("/api/alarms", ApiClient.query("active", active));
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("ID").left("RAISED").left("SEVERITY").left("TYPE").left("OBJECT").left("ACTIVE").left("ACKED")
                    .left("CLEARED").left("MESSAGE");
            for (JsonObject a : Names.objects(all)) {
                t.row(a.getString("id"), Human.time(a.getString("raisedAt")), a.getString("severity"), a.getString("type"),
                        id(a.getString("objectId")), Human.yesNo(a.getBoolean("active")), Human.yesNo(a.getBoolean("acknowledged")),
                        Human.time(a.getString("clearedAt")), a.getString("message"));
            }
            t.print(out(), active == Boolean.TRUE ? "no active alarms" : "no alarms");
        }
    }

    @Command(name = "ack", description = "Acknowledge an alarm [acknowledgeAlarm].")
    static final class AlarmAck extends CtlCommand {
        @Parameters(paramLabel = "ALARM", description = "its ID, e.g. alarm-3 (or just 3)")
        String alarm;

        @Override
        void execute() {
            String id = alarm.matches("\\d+") ? "alarm-" + alarm : alarm;
            JsonObject a = (JsonObject) api().send("POST", "/api/alarms/" + ApiClient.segment(id) + "/acknowledge", null);
            if (json()) {
                ctl().printJson(a);
                return;
            }
            out().println("acknowledged " + a.getString("id") + ": " + a.getString("message"));
        }
    }

    @Command(name = "audit", description = "The audit log: every change, who made it and when, newest first [getAuditLog].")
    static final class Audit extends CtlCommand {
        @Option(names = "--limit", paramLabel = "N", description = "at most N entries (1..10000; default 50)", defaultValue = "50")
        int limit;

        @Override
        void execute() {
            JsonArray all = api().getArray("/api/audit", ApiClient.query("limit", limit));
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("TIME").left("USER").left("OPERATION").left("TARGET").left("OUTCOME").left("DETAIL");
            for (JsonObject a : Names.objects(all)) {
                t.row(Human.time(a.getString("time")), a.getString("user"), a.getString("operation"), target(a.getString("target")),
                        a.getString("outcome"), a.getString("detail"));
            }
            t.print(out(), "the audit log is empty");
        }

        /** {@code {"vvolId":"ddeec860-..."}} → {@code vvolId=ddeec860} (whole with --wide). */
        private String target(String target) {
            if (target == null || !target.startsWith("{")) {
                return target;
            }
            try {
                JsonObject o = new JsonObject(target);
                java.util.List<String> parts = new java.util.ArrayList<>();
                o.forEach(e -> parts.add(e.getKey() + "=" + (e.getValue() instanceof String v ? id(v) : e.getValue())));
                return String.join(" ", parts);
            } catch (RuntimeException e) {
                return target;
            }
        }
    }

    @Command(name = "perf", description = "IOPS, throughput and latency per container and protocol endpoint: the latest sample and"
            + " the mean over the last 15 minutes [queryPerformance].")
    static final class Perf extends CtlCommand {
        @Override
        void execute() {
            JsonObject p = api().getObject("/api/performance");
            if (json()) {
                ctl().printJson(p);
                return;
            }
            Table t = new Table().left("KIND").left("NAME").right("READ IOPS").right("WRITE IOPS").right("READ/S").right("WRITE/S")
                    .right("LATENCY").right("MEAN IOPS").right("MEAN LATENCY").right("SAMPLES");
            for (JsonObject s : Names.objects(p.getJsonArray("series"))) {
                java.util.List<JsonObject> samples = Names.objects(s.getJsonArray("samples"));
                String kind = "protocol_endpoint".equals(s.getString("kind")) ? "pe" : s.getString("kind");
                if (samples.isEmpty()) {
                    t.row(kind, s.getString("name"), null, null, null, null, null, null, null, 0);
                    continue;
                }
                JsonObject last = samples.getLast();
                double iops = 0;
                double latency = 0;
                for (JsonObject x : samples) {
                    iops += x.getDouble("readIops") + x.getDouble("writeIops");
                    latency += x.getDouble("latencyMicros");
                }
                t.row(kind, s.getString("name"), rate(last.getDouble("readIops")), rate(last.getDouble("writeIops")),
                        Human.size(Math.round(last.getDouble("readBytesPerSecond"))),
                        Human.size(Math.round(last.getDouble("writeBytesPerSecond"))), micros(last.getDouble("latencyMicros")),
                        rate(iops / samples.size()), micros(latency / samples.size()), samples.size());
            }
            out().println("sampled every " + p.getInteger("intervalSeconds") + " s; latest sample, and the mean over the samples kept");
            t.print(out(), "no series");
        }

        private static String rate(double v) {
            return String.format(Locale.ROOT, "%.0f", v);
        }

        private static String micros(double v) {
            return String.format(Locale.ROOT, "%.0f µs", v);
        }
    }
}
