package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.ArrayList;
import java.util.Map;

/** Hosts, registered by NQN: only they may connect to a container's subsystem and be bound to. */
@Command(name = "host", description = "Hosts (by NQN) that may connect and have volumes bound to them.",
        subcommands = {HostCommands.List.class, HostCommands.Show.class, HostCommands.Register.class, HostCommands.Unregister.class})
final class HostCommands implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        CtlCommand.needSubcommand(spec);
    }

    @Command(name = "list", aliases = "ls", description = "Registered hosts [queryHosts].")
    static final class List extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/hosts");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("NAME").left("ID").left("NQN").left("CONNECTED").right("CONTROLLERS").right("BOUND VVOLS");
            for (JsonObject h : Names.objects(all)) {
                t.row(h.getString("name"), id(h.getString("id")), h.getString("nqn"), Human.yesNo(h.getBoolean("connected")),
                        h.getInteger("controllers"), h.getJsonArray("boundVvolIds").size());
            }
            t.print(out(), "no hosts registered");
        }
    }

    @Command(name = "show", description = "One host and the volumes bound to it [queryHostInfo].")
    static final class Show extends CtlCommand {
        @Parameters(paramLabel = "HOST", description = "name, NQN or ID")
        String host;

        @Override
        void execute() {
            Names names = names();
            JsonObject h = api().getObject("/api/hosts/" + ApiClient.segment(names.host(host)));
            if (json()) {
                ctl().printJson(h);
                return;
            }
            print(h, this);
        }

        static void print(JsonObject h, CtlCommand c) {
            JsonArray bound = h.getJsonArray("boundVvolIds");
            new Fields()
                    .add("Name", h.getString("name"))
                    .add("ID", h.getString("id"))
                    .add("NQN", h.getString("nqn"))
                    .add("WWPNs", h.getJsonArray("wwpns").isEmpty() ? null
                            : String.join(",", h.getJsonArray("wwpns").stream().map(Object::toString).toList()))
                    .add("Connected", Human.yesNo(h.getBoolean("connected")) + " (" + h.getInteger("controllers") + " controllers)")
                    .add("Registered", Human.time(h.getString("createdAt")))
                    .add("Bound vvols", bound.size())
                    .print(c.out());
            if (!bound.isEmpty()) {
                Map<String, String> vvolNames = c.names().vvolNames();
                java.util.List<String> rows = new ArrayList<>();
                bound.forEach(id -> rows.add("  " + vvolNames.getOrDefault(id.toString(), "?") + " (" + c.id(id.toString()) + ")"));
                rows.forEach(c.out()::println);
            }
        }
    }

    @Command(name = "register", description = "Register a host by NQN; only registered hosts may connect to a container's subsystem"
            + " [registerHost].")
    static final class Register extends CtlCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "what to call it, e.g. esx-01")
        String name;

        @Parameters(index = "1", paramLabel = "NQN", description = "the host's NQN (Linux: /etc/nvme/hostnqn)")
        String nqn;

        @Override
        void execute() {
            JsonObject h = (JsonObject) api().send("POST", "/api/hosts", new JsonObject().put("name", name).put("nqn", nqn));
            if (json()) {
                ctl().printJson(h);
                return;
            }
            out().println("registered host " + h.getString("name"));
            Show.print(h, this);
        }
    }

    @Command(name = "unregister", description = "Forget a host; refused while volumes are bound to it [unregisterHost].")
    static final class Unregister extends CtlCommand {
        @Parameters(paramLabel = "HOST", description = "name, NQN or ID")
        String host;

        @Override
        void execute() {
            api().send("DELETE", "/api/hosts/" + ApiClient.segment(names().host(host)), null);
            if (!json()) {
                out().println("unregistered host " + host);
            }
        }
    }
}
