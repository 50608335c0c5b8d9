package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Capability profiles (storage policies). */
@Command(name = "profile", description = "Capability profiles (storage policies).",
        subcommands = {ProfileCommands.List.class, ProfileCommands.Create.class, ProfileCommands.Delete.class})
final class ProfileCommands implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        CtlCommand.needSubcommand(spec);
    }

    enum Provisioning { thin, thick }

    @Command(name = "list", aliases = "ls", description = "Capability profiles [queryCapabilityProfile].")
    static final class List extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/profiles");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("NAME").left("ID").left("PROVISIONING").right("LBA").right("IOPS LIMIT").right("MB/S LIMIT")
                    .right("IOPS RESERVED").right("SNAPSHOTS KEPT").right("VOLUMES").left("DESCRIPTION");
            for (JsonObject p : Names.objects(all)) {
                t.row(p.getString("name"), id(p.getString("id")), p.getString("provisioning"), p.getInteger("lbaSize"),
                        p.getLong("iopsLimit"), p.getLong("throughputLimitMBps"), p.getLong("iopsReservation"),
                        p.getInteger("snapshotRetention"), p.getInteger("volumes"), p.getString("description"));
            }
            t.print(out(), "no capability profiles");
        }
    }

    @Command(name = "create", description = "Create a capability profile; refused if no container can enforce it [createCapabilityProfile].")
    static final class Create extends CtlCommand {
        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--description", paramLabel = "TEXT")
        String description;

        @Option(names = "--provisioning", paramLabel = "thin|thick", description = "default thin")
        Provisioning provisioning;

        @Option(names = "--lba-size", paramLabel = "512|4096", description = "default 512")
        Integer lbaSize;

        @Option(names = "--iops-limit", paramLabel = "N", description = "most I/O commands per second")
        Long iopsLimit;

        @Option(names = "--mbps-limit", paramLabel = "N", description = "most MB (10^6 bytes) per second")
        Long mbpsLimit;

        @Option(names = "--iops-reservation", paramLabel = "N", description = "IOPS set aside for each volume")
        Long iopsReservation;

        @Option(names = "--snapshot-retention", paramLabel = "N", description = "most snapshots kept (1..256); the oldest go first")
        Integer snapshotRetention;

        @Override
        void execute() {
            JsonObject body = new JsonObject().put("name", name);
            putIf(body, "description", description);
            putIf(body, "provisioning", provisioning == null ? null : provisioning.name());
            putIf(body, "lbaSize", lbaSize);
            putIf(body, "iopsLimit", iopsLimit);
            putIf(body, "throughputLimitMBps", mbpsLimit);
            putIf(body, "iopsReservation", iopsReservation);
            putIf(body, "snapshotRetention", snapshotRetention);
            JsonObject p = (JsonObject) api().send("POST", "/api/profiles", body);
            if (json()) {
                ctl().printJson(p);
                return;
            }
            out().println("created capability profile " + p.getString("name"));
            fields(p, this).print(out());
        }
    }

    @Command(name = "delete", aliases = "rm", description = "Delete a capability profile; refused while a volume uses it [deleteCapabilityProfile].")
    static final class Delete extends CtlCommand {
        @Parameters(paramLabel = "PROFILE", description = "name or ID")
        String profile;

        @Override
        void execute() {
            String id = names().profile(profile);
            api().send("DELETE", "/api/profiles/" + ApiClient.segment(id), null);
            if (!json()) {
                out().println("deleted capability profile " + profile);
            }
        }
    }

    static Fields fields(JsonObject p, CtlCommand c) {
        return new Fields()
                .add("Name", p.getString("name"))
                .add("ID", c.id(p.getString("id")))
                .add("Description", p.getString("description"))
                .add("Provisioning", p.getString("provisioning"))
                .add("LBA size", p.getInteger("lbaSize"))
                .add("IOPS limit", p.getLong("iopsLimit"))
                .add("MB/s limit", p.getLong("throughputLimitMBps"))
                .add("IOPS reserved", p.getLong("iopsReservation"))
                .add("Snapshots kept", p.getInteger("snapshotRetention"))
                .add("Created", Human.time(p.getString("createdAt")));
    }

    static void putIf(JsonObject o, String key, Object value) {
        if (value != null) {
            o.put(key, value);
        }
    }
}
