package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Storage containers: what there is, and its space. */
@Command(name = "container", description = "Storage containers (the pools volumes live in).",
        subcommands = {ContainerCommands.List.class, ContainerCommands.Space.class})
final class ContainerCommands implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        CtlCommand.needSubcommand(spec);
    }

    @Command(name = "list", aliases = "ls", description = "Storage containers with their space and capabilities [queryStorageContainer].")
    static final class List extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/containers");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("NAME").left("ID").left("STATE").left("MIRRORED").right("CAPACITY").right("USED")
                    .right("FREE").right("PROVISIONED").right("VOLUMES").right("SNAPSHOTS").left("PROTOCOL ENDPOINTS");
            if (wide()) {
                t.left("PROVISIONING").left("LBA SIZES").right("MAX RETENTION").right("IOPS RESERVABLE").right("IOPS RESERVED");
            }
            for (JsonObject c : Names.objects(all)) {
                JsonObject s = c.getJsonObject("space");
                java.util.List<Object> row = new java.util.ArrayList<>(java.util.List.of(c.getString("name"), id(c.getString("id")),
                        Human.orDash(c.getString("state")), Human.yesNo(c.getBoolean("mirrored")),
                        Human.size(s.getLong("capacityBytes")), Human.size(s.getLong("usedBytes")), Human.size(s.getLong("freeBytes")),
                        Human.size(s.getLong("provisionedBytes")), s.getInteger("volumes"), s.getInteger("snapshots"),
                        String.join(",", c.getJsonArray("protocolEndpointIds").stream().map(Object::toString).toList())));
                if (wide()) {
                    JsonObject cap = c.getJsonObject("capabilities");
                    JsonObject qos = cap.getJsonObject("qos");
                    row.add(String.join(",", cap.getJsonArray("provisioning").stream().map(Object::toString).toList()));
                    row.add(String.join(",", cap.getJsonArray("lbaSizes").stream().map(Object::toString).toList()));
                    row.add(cap.getInteger("maxSnapshotRetention"));
                    row.add(qos.getLong("iopsReservationCapacity"));
                    row.add(qos.getLong("iopsReserved"));
                }
                t.row(row.toArray());
            }
            t.print(out(), "no storage containers");
        }
    }

    @Command(name = "space", description = "Space statistics of one storage container [spaceStatsForStorageContainer].")
    static final class Space extends CtlCommand {
        @Parameters(paramLabel = "CONTAINER", description = "name or ID")
        String container;

        @Override
        void execute() {
            String id = names().container(container);
            JsonObject s = api().getObject("/api/containers/" + ApiClient.segment(id) + "/space");
            if (json()) {
                ctl().printJson(s);
                return;
            }
            new Fields()
                    .add("Capacity", Human.size(s.getLong("capacityBytes")))
                    .add("Used", Human.size(s.getLong("usedBytes")) + " (volumes and snapshots)")
                    .add("Free", Human.size(s.getLong("freeBytes")))
                    .add("Provisioned", Human.size(s.getLong("provisionedBytes")) + " (sizes of writable volumes)")
                    .add("Snapshot-only", Human.size(s.getLong("snapshotBytes")))
                    .add("Reserved", Human.size(s.getLong("reservedBytes")) + " (thick, not yet written)")
                    .add("Volumes", s.getInteger("volumes"))
                    .add("Snapshots", s.getInteger("snapshots"))
                    .print(out());
        }
    }
}
