package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/** Virtual volumes, their snapshots and clones, and binding them to hosts. */
@Command(name = "vvol", description = "Virtual volumes, snapshots and clones; bind and unbind.",
        subcommands = {VvolCommands.List.class, VvolCommands.Show.class, VvolCommands.Create.class, VvolCommands.Delete.class,
                VvolCommands.Resize.class, VvolCommands.Snapshot.class, VvolCommands.Clone.class, VvolCommands.Revert.class,
                VvolCommands.Metadata.class, VvolCommands.Bitmap.class, VvolCommands.Bind.class, VvolCommands.Unbind.class,
                VvolCommands.UnbindAll.class, VvolCommands.SetProfile.class, VvolCommands.Compliance.class})
final class VvolCommands implements Runnable {
    static final String VVOL_HELP = "ID, ID prefix, name, or container/name";

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        CtlCommand.needSubcommand(spec);
    }

    enum VolumeType { config, data, swap, memory, other }

    enum Provisioning { thin, thick }

    /** volume, snapshot, clone, or a full clone still copying. */
    static String kind(JsonObject v) {
        if (v.getBoolean("snapshot", false)) {
            return "snapshot";
        }
        Double copy = v.getDouble("fullCopyProgress");
        if (copy != null) {
            return "full clone (" + Human.percent(copy) + " copied)";
        }
        return v.getString("parentId") == null ? "volume" : "clone";
    }

    static String boundTo(JsonObject v, Names names) {
        JsonArray b = v.getJsonArray("bindings");
        if (b == null || b.isEmpty()) {
            return "-";
        }
        java.util.List<String> hosts = new ArrayList<>();
        Names.objects(b).forEach(x -> hosts.add(names.hostName(x.getString("hostId"))));
        return String.join(",", hosts);
    }

    /** The volume as aligned fields, then its bindings and metadata. */
    static void show(JsonObject v, CtlCommand c) {
        Names names = c.names();
        String parentId = v.getString("parentId");
        String parent = null;
        if (parentId != null) {
            String n = names.vvolNames().get(parentId);
            parent = (n == null ? "" : n + " ") + "(" + c.id(parentId) + ")";
        }
        String profileId = v.getString("profileId");
        new Fields()
                .add("Name", v.getString("name"))
                .add("ID", v.getString("id"))
                .add("Container", names.containerName(v.getString("containerId")))
                .add("Kind", kind(v))
                .add("Type", v.getString("type"))
                .add("Size", Human.size(v.getLong("sizeBytes")) + " (" + v.getLong("sizeBytes") + " bytes)")
                .add("LBA size", v.getInteger("lbaSize"))
                .add("Provisioning", v.getString("provisioning"))
                .add("Allocated", Human.size(v.getLong("allocatedBytes")))
                .add("Parent", parent)
                .add("Profile", profileId == null ? null : names.profileName(profileId))
                .add("Compliant", Human.yesNo(v.getBoolean("compliant")))
                .add("NGUID", v.getString("nguid"))
                .add("Exported", v.getBoolean("exported", false) ? "to every host, by the configuration file" : "no")
                .print(c.out());
        JsonArray bindings = v.getJsonArray("bindings");
        if (bindings != null && !bindings.isEmpty()) {
            c.out().println();
            bindingTable(bindings, names, c).print(c.out(), "");
        }
        JsonObject meta = v.getJsonObject("metadata");
        if (meta != null && !meta.isEmpty()) {
            c.out().println();
            metadataTable(meta).print(c.out(), "");
        }
    }

    static Table bindingTable(JsonArray bindings, Names names, CtlCommand c) {
        Table t = new Table().left("BOUND TO").left("HOST NQN").left("PROTOCOL ENDPOINT").left("SUBSYSTEM").right("NSID")
                .right("ANA GROUP");
        for (JsonObject b : Names.objects(bindings)) {
            t.row(names.hostName(b.getString("hostId")), b.getString("hostNqn"), b.getString("protocolEndpointId"),
                    b.getString("subsystemNqn"), b.getInteger("nsid"), b.getInteger("anaGroupId"));
        }
        return t;
    }

    static Table metadataTable(JsonObject meta) {
        Table t = new Table().left("KEY").left("VALUE");
        new java.util.TreeMap<>(meta.getMap()).forEach((k, val) -> t.row(k, val));
        return t;
    }

    /** Prints a volume a change returned: the JSON, or a line saying what happened and the volume. */
    static void printChanged(CtlCommand c, JsonObject v, String what) {
        if (c.json()) {
            c.ctl().printJson(v);
            return;
        }
        c.out().println(what);
        show(v, c);
    }

    static String path(String id, String tail) {
        return "/api/vvols/" + ApiClient.segment(id) + tail;
    }

    @Command(name = "list", aliases = "ls", description = "Virtual volumes, snapshots and clones, filtered [queryVirtualVolume].")
    static final class List extends CtlCommand {
        @Option(names = "--container", paramLabel = "CONTAINER", description = "name or ID")
        String container;

        @Option(names = "--type", paramLabel = "TYPE", description = "config, data, swap, memory or other")
        VolumeType type;

        @Option(names = "--profile", paramLabel = "PROFILE", description = "name or ID")
        String profile;

        @Option(names = "--host", paramLabel = "HOST", description = "only volumes bound to this host (name, NQN or ID)")
        String host;

        @Option(names = "--bound", arity = "0..1", paramLabel = "BOOL", fallbackValue = "true",
                description = "only bound volumes (--bound=false: only unbound)")
        Boolean bound;

        @Option(names = "--snapshots", arity = "0..1", paramLabel = "BOOL", fallbackValue = "true",
                description = "only snapshots (--snapshots=false: no snapshots)")
        Boolean snapshots;

        @Option(names = "--name", paramLabel = "TEXT", description = "part of the name (case-insensitive)")
        String name;

        @Override
        void execute() {
            Names names = names();
            Map<String, Object> q = ApiClient.query(
                    "container", container == null ? null : names.container(container),
                    "type", type == null ? null : type.name(),
                    "profile", profile == null ? null : names.profile(profile),
                    "host", host == null ? null : names.host(host),
                    "bound", bound,
                    "snapshots", snapshots,
                    "q", name);
            JsonArray all = api().getArray("/api/vvols", q);
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("NAME").left("ID").left("CONTAINER").left("KIND").left("TYPE").right("SIZE").right("ALLOCATED")
                    .left("PROFILE").left("COMPLIANT").left("BOUND TO");
            if (wide()) {
                t.left("PARENT").right("LBA").left("PROVISIONING").left("NGUID");
            }
            for (JsonObject v : Names.objects(all)) {
                java.util.List<Object> row = new ArrayList<>(java.util.List.of(v.getString("name"), id(v.getString("id")),
                        names.containerName(v.getString("containerId")), kind(v), v.getString("type"),
                        Human.size(v.getLong("sizeBytes")), Human.size(v.getLong("allocatedBytes")),
                        Human.orDash(names.profileName(v.getString("profileId"))), Human.yesNo(v.getBoolean("compliant")),
                        boundTo(v, names)));
                if (wide()) {
                    row.add(Human.orDash(v.getString("parentId")));
                    row.add(v.getInteger("lbaSize"));
                    row.add(v.getString("provisioning"));
                    row.add(v.getString("nguid"));
                }
                t.row(row.toArray());
            }
            t.print(out(), "no virtual volumes");
        }
    }

    @Command(name = "show", description = "One virtual volume, with its bindings and metadata [queryVirtualVolumeInfo].")
    static final class Show extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Override
        void execute() {
            JsonObject v = api().getObject(path(names().vvol(vvol), ""));
            if (json()) {
                ctl().printJson(v);
                return;
            }
            show(v, this);
        }
    }

    @Command(name = "create", description = "Create a virtual volume [createVirtualVolume].")
    static final class Create extends CtlCommand {
        @Parameters(paramLabel = "[CONTAINER/]NAME", description = "the container may be left out when there is only one")
        String name;

        @Option(names = {"--size", "-s"}, required = true, paramLabel = "SIZE", description = "e.g. 10GiB, 512MiB, or bytes")
        String size;

        @Option(names = "--container", paramLabel = "CONTAINER", description = "name or ID (or write CONTAINER/NAME)")
        String container;

        @Option(names = "--profile", paramLabel = "PROFILE", description = "capability profile, name or ID")
        String profile;

        @Option(names = "--type", paramLabel = "TYPE", description = "config, data (default), swap, memory or other")
        VolumeType type;

        @Option(names = "--lba-size", paramLabel = "512|4096", description = "default the profile's, else 512")
        Integer lbaSize;

        @Option(names = "--provisioning", paramLabel = "thin|thick")
        Provisioning provisioning;

        @Option(names = "--meta", paramLabel = "KEY=VALUE", description = "a metadata key-value; may be repeated")
        java.util.List<String> meta = new ArrayList<>();

        @Override
        void execute() {
            Names names = names();
            String volumeName = name;
            String where = container;
            int slash = name.indexOf('/');
            if (slash > 0) {
                if (container != null) {
                    throw usage("give the container either as CONTAINER/NAME or with --container, not both");
                }
                where = name.substring(0, slash);
                volumeName = name.substring(slash + 1);
            }
            if (where == null) {
                JsonArray containers = names.containers();
                if (containers.size() != 1) {
                    throw usage("there are " + containers.size() + " storage containers: say which, as CONTAINER/NAME or with --container");
                }
                where = containers.getJsonObject(0).getString("name");
            } else {
                where = names.container(where);
            }
            JsonObject body = new JsonObject().put("container", where).put("name", volumeName)
                    .put("sizeBytes", Human.parseSize(size, "--size"));
            ProfileCommands.putIf(body, "profileId", profile == null ? null : names.profile(profile));
            ProfileCommands.putIf(body, "type", type == null ? null : type.name());
            ProfileCommands.putIf(body, "lbaSize", lbaSize);
            ProfileCommands.putIf(body, "provisioning", provisioning == null ? null : provisioning.name());
            if (!meta.isEmpty()) {
                JsonObject m = new JsonObject();
                keyValues(meta).forEach(m::put);
                body.put("metadata", m);
            }
            JsonObject v = (JsonObject) api().send("POST", "/api/vvols", body);
            printChanged(this, v, "created virtual volume " + v.getString("name"));
        }
    }

    @Command(name = "delete", aliases = "rm", description = "Delete a volume, snapshot or clone (a task); refused while it is bound"
            + " [deleteVirtualVolume].")
    static final class Delete extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Option(names = "--wait", description = "wait until it is deleted")
        boolean await;

        @Override
        void execute() {
            JsonObject task = (JsonObject) api().send("DELETE", path(names().vvol(vvol), ""), null);
            printTask(task, await);
        }
    }

    @Command(name = "resize", description = "Grow a volume online; bound hosts are told; shrinking is refused [resizeVirtualVolume].")
    static final class Resize extends CtlCommand {
        @Parameters(index = "0", paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Parameters(index = "1", paramLabel = "SIZE", description = "the new size, e.g. 20GiB")
        String size;

        @Override
        void execute() {
            JsonObject v = (JsonObject) api().send("POST", path(names().vvol(vvol), "/resize"),
                    new JsonObject().put("sizeBytes", Human.parseSize(size, "SIZE")));
            printChanged(this, v, "resized " + v.getString("name") + " to " + Human.size(v.getLong("sizeBytes")));
        }
    }

    @Command(name = "snapshot", description = "Take a point-in-time, read-only snapshot [snapshotVirtualVolume]; or, with --prepare,"
            + " only reserve one to take within 60 seconds [prepareToSnapshotVirtualVolume].")
    static final class Snapshot extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Option(names = "--name", paramLabel = "NAME", description = "the snapshot's name (default one is made up)")
        String name;

        @Option(names = "--prepare", description = "only reserve the snapshot (VASA's first phase); prints the prepared ID")
        boolean prepare;

        @Option(names = "--prepared", paramLabel = "ID", description = "take the snapshot reserved with --prepare")
        String prepared;

        @Override
        void execute() {
            if (prepare && (prepared != null || name != null)) {
                throw usage("--prepare only reserves; give --name and --prepared when taking the snapshot");
            }
            String id = names().vvol(vvol);
            if (prepare) {
                JsonObject p = (JsonObject) api().send("POST", path(id, "/prepare-snapshot"), null);
                if (json()) {
                    ctl().printJson(p);
                    return;
                }
                new Fields().add("Prepared", p.getString("preparedId")).add("Volume", p.getString("vvolId"))
                        .add("Expires", Human.time(p.getString("expiresAt"))).print(out());
                out().println("take it with: vvolgate ctl vvol snapshot " + p.getString("vvolId") + " --prepared " + p.getString("preparedId"));
                return;
            }
            JsonObject body = new JsonObject();
            ProfileCommands.putIf(body, "name", name);
            ProfileCommands.putIf(body, "preparedId", prepared);
            JsonObject s = (JsonObject) api().send("POST", path(id, "/snapshots"), body);
            printChanged(this, s, "took snapshot " + s.getString("name"));
        }
    }

    @Command(name = "clone", description = "A linked clone, O(1), of a snapshot or of a volume through a new snapshot of it"
            + " [fastCloneVirtualVolume]; with --full, an independent copy made in the background (a task) [cloneVirtualVolume].")
    static final class Clone extends CtlCommand {
        @Parameters(index = "0", paramLabel = "VVOL", description = "the volume or snapshot to clone: " + VVOL_HELP)
        String vvol;

        @Parameters(index = "1", paramLabel = "NAME", description = "the clone's name")
        String name;

        @Option(names = "--full", description = "a full copy (a task) instead of a linked clone")
        boolean full;

        @Option(names = "--profile", paramLabel = "PROFILE", description = "the clone's capability profile, name or ID")
        String profile;

        @Option(names = "--wait", description = "with --full: wait until the copy is done")
        boolean await;

        @Override
        void execute() {
            if (await && !full) {
                throw usage("--wait goes with --full (a linked clone is made at once)");
            }
            Names names = names();
            String id = names.vvol(vvol);
            JsonObject body = new JsonObject().put("name", name);
            ProfileCommands.putIf(body, "profileId", profile == null ? null : names.profile(profile));
            if (full) {
                printTask((JsonObject) api().send("POST", path(id, "/clone"), body), await);
            } else {
                JsonObject c = (JsonObject) api().send("POST", path(id, "/fast-clone"), body);
                printChanged(this, c, "created linked clone " + c.getString("name"));
            }
        }
    }

    @Command(name = "revert", description = "Make a volume's contents those of one of its snapshots [revertVirtualVolume].")
    static final class Revert extends CtlCommand {
        @Parameters(index = "0", paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Parameters(index = "1", paramLabel = "SNAPSHOT", description = "one of its snapshots: " + VVOL_HELP)
        String snapshot;

        @Override
        void execute() {
            Names names = names();
            JsonObject v = (JsonObject) api().send("POST", path(names.vvol(vvol), "/revert"),
                    new JsonObject().put("snapshotId", names.vvol(snapshot)));
            printChanged(this, v, "reverted " + v.getString("name") + " to snapshot " + snapshot);
        }
    }

    @Command(name = "metadata", description = "A volume's metadata key-values.",
            subcommands = {MetadataGet.class, MetadataSet.class})
    static final class Metadata implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    @Command(name = "get", description = "A volume's metadata; with KEYs, just their values, one a line [queryVirtualVolumeMetaData].")
    static final class MetadataGet extends CtlCommand {
        @Parameters(index = "0", paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Parameters(index = "1..*", paramLabel = "KEY")
        java.util.List<String> keys = new ArrayList<>();

        @Override
        void execute() {
            JsonObject m = api().getObject(path(names().vvol(vvol), "/metadata"));
            if (json()) {
                ctl().printJson(m);
                return;
            }
            if (!keys.isEmpty()) {
                for (String k : keys) {
                    if (!m.containsKey(k)) {
                        throw CtlException.refused("metadata_key_not_found", "the volume has no metadata key \"" + k + "\"");
                    }
                    out().println(m.getString(k));
                }
                return;
            }
            metadataTable(m).print(out(), "no metadata");
        }
    }

    @Command(name = "set", description = "Set metadata keys, and remove those given with --unset [updateVirtualVolumeMetaData].")
    static final class MetadataSet extends CtlCommand {
        @Parameters(index = "0", paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Parameters(index = "1..*", paramLabel = "KEY=VALUE")
        java.util.List<String> pairs = new ArrayList<>();

        @Option(names = "--unset", paramLabel = "KEY", description = "remove this key; may be repeated")
        java.util.List<String> unset = new ArrayList<>();

        @Override
        void execute() {
            if (pairs.isEmpty() && unset.isEmpty()) {
                throw usage("give KEY=VALUE pairs to set, or --unset KEY");
            }
            JsonObject update = new JsonObject();
            keyValues(pairs).forEach(update::put);
            for (String k : unset) {
                if (update.containsKey(k)) {
                    throw usage("\"" + k + "\" is both set and unset");
                }
                update.putNull(k);
            }
            JsonObject m = (JsonObject) api().send("PATCH", path(names().vvol(vvol), "/metadata"), update);
            if (json()) {
                ctl().printJson(m);
                return;
            }
            metadataTable(m).print(out(), "no metadata");
        }
    }

    /** {@code k=v} arguments, in order; a missing {@code =} is a usage error. */
    static Map<String, String> keyValues(java.util.List<String> pairs) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String p : pairs) {
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw CtlException.usage("\"" + p + "\" is not KEY=VALUE");
            }
            m.put(p.substring(0, eq), p.substring(eq + 1));
        }
        return m;
    }

    @Command(name = "bitmap", description = "Which chunks of a volume hold data, or differ from a snapshot (for backup and replication).",
            subcommands = {BitmapAllocated.class, BitmapUnshared.class})
    static final class Bitmap implements Runnable {
        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            CtlCommand.needSubcommand(spec);
        }
    }

    abstract static class BitmapCommand extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Option(names = "--offset", paramLabel = "SIZE", description = "where to start (default 0)")
        String offset;

        @Option(names = "--length", paramLabel = "SIZE", description = "how far (default to the end)")
        String length;

        void print(JsonObject b, String what) {
            if (json()) {
                ctl().printJson(b);
                return;
            }
            long chunk = b.getLong("chunkSizeBytes");
            long start = b.getLong("offsetBytes");
            long len = b.getLong("lengthBytes");
            long chunks = (len + chunk - 1) / chunk;
            byte[] bits = Base64.getDecoder().decode(b.getString("bitmap"));
            long set = b.getLong("setChunks");
            out().println(set + " of " + chunks + " chunks of " + Human.size(chunk) + " " + what + " (" + Human.size(Math.min(set * chunk, len))
                    + "), from " + Human.size(start) + " for " + Human.size(len));
            Table t = new Table().right("OFFSET").right("LENGTH").right("OFFSET BYTES").right("LENGTH BYTES");
            long runStart = -1;
            for (long i = 0; i <= chunks; i++) {
                boolean on = i < chunks && (bits[(int) (i >>> 3)] & (1 << (i & 7))) != 0;
                if (on && runStart < 0) {
                    runStart = i;
                } else if (!on && runStart >= 0) {
                    long o = start + runStart * chunk;
                    long l = Math.min(start + i * chunk, start + len) - o;
                    t.row(Human.size(o), Human.size(l), o, l);
                    runStart = -1;
                }
            }
            if (t.size() > 0) {
                out().println();
                t.print(out(), "");
            }
        }

        Map<String, Object> range(Object... more) {
            Map<String, Object> q = ApiClient.query(more);
            if (offset != null) {
                q.put("offset", Human.parseSize(offset, "--offset"));
            }
            if (length != null) {
                q.put("length", Human.parseSize(length, "--length"));
            }
            return q;
        }
    }

    @Command(name = "allocated", description = "The chunks that hold data [allocatedBitmapVirtualVolume].")
    static final class BitmapAllocated extends BitmapCommand {
        @Override
        void execute() {
            JsonObject b = (JsonObject) api().get(path(names().vvol(vvol), "/allocated-bitmap"), range());
            print(b, "allocated");
        }
    }

    @Command(name = "unshared", description = "The chunks where the volume differs from one of its snapshots [unsharedBitmapVirtualVolume].")
    static final class BitmapUnshared extends BitmapCommand {
        @Option(names = "--base", required = true, paramLabel = "SNAPSHOT", description = "a snapshot of the volume: " + VVOL_HELP)
        String base;

        @Override
        void execute() {
            Names names = names();
            JsonObject b = (JsonObject) api().get(path(names.vvol(vvol), "/unshared-bitmap"), range("baseVvolId", names.vvol(base)));
            print(b, "changed since the snapshot");
        }
    }

    @Command(name = "bind", description = "Make the volume's namespace visible to a host's controllers; idempotent; prints the"
            + " protocol endpoint [bindVirtualVolume].")
    static final class Bind extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Option(names = "--host", required = true, paramLabel = "HOST", description = "name, NQN or ID")
        String host;

        @Override
        void execute() {
            Names names = names();
            JsonObject b = (JsonObject) api().send("POST", path(names.vvol(vvol), "/bind"),
                    new JsonObject().put("hostId", names.host(host)));
            if (json()) {
                ctl().printJson(b);
                return;
            }
            out().println("bound " + vvol + " to host " + names.hostName(b.getString("hostId")) + " through protocol endpoint "
                    + b.getString("protocolEndpointId") + ": subsystem " + b.getString("subsystemNqn") + ", namespace "
                    + b.getInteger("nsid") + ", ANA group " + b.getInteger("anaGroupId"));
        }
    }

    @Command(name = "unbind", description = "Hide the volume's namespace from a host again [unbindVirtualVolume].")
    static final class Unbind extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Option(names = "--host", required = true, paramLabel = "HOST", description = "name, NQN or ID")
        String host;

        @Override
        void execute() {
            Names names = names();
            api().send("POST", path(names.vvol(vvol), "/unbind"), new JsonObject().put("hostId", names.host(host)));
            if (!json()) {
                out().println("unbound " + vvol + " from host " + host);
            }
        }
    }

    @Command(name = "unbind-all", description = "Hide the volume's namespace from every host [unbindVirtualVolumeFromAllHost].")
    static final class UnbindAll extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Override
        void execute() {
            api().send("POST", path(names().vvol(vvol), "/unbind-all"), null);
            if (!json()) {
                out().println("unbound " + vvol + " from every host");
            }
        }
    }

    @Command(name = "set-profile", description = "Change a volume's capability profile; what can apply at once (QoS, retention)"
            + " does [updateStorageProfileForVirtualVolume].")
    static final class SetProfile extends CtlCommand {
        @Parameters(index = "0", paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Parameters(index = "1", arity = "0..1", paramLabel = "PROFILE", description = "name or ID")
        String profile;

        @Option(names = "--none", description = "no profile")
        boolean none;

        @Override
        void execute() {
            if (none == (profile != null)) {
                throw usage("give a PROFILE, or --none to remove the volume's profile");
            }
            Names names = names();
            JsonObject body = new JsonObject();
            if (none) {
                body.putNull("profileId");
            } else {
                body.put("profileId", names.profile(profile));
            }
            JsonObject v = (JsonObject) api().send("PUT", path(names.vvol(vvol), "/profile"), body);
            printChanged(this, v, none ? "removed the profile of " + v.getString("name")
                    : "set the profile of " + v.getString("name") + " to " + profile);
        }
    }

    @Command(name = "compliance", description = "Whether a volume meets its profile, and why not [queryComplianceResult].")
    static final class Compliance extends CtlCommand {
        @Parameters(paramLabel = "VVOL", description = VVOL_HELP)
        String vvol;

        @Override
        void execute() {
            Names names = names();
            JsonObject r = api().getObject(path(names.vvol(vvol), "/compliance"));
            if (json()) {
                ctl().printJson(r);
                return;
            }
            String profileId = r.getString("profileId");
            new Fields()
                    .add("Volume", id(r.getString("vvolId")))
                    .add("Profile", profileId == null ? "none" : names.profileName(profileId))
                    .add("Compliant", Human.yesNo(r.getBoolean("compliant")))
                    .print(out());
            JsonArray problems = r.getJsonArray("problems");
            if (problems != null) {
                problems.forEach(p -> out().println("  - " + p));
            }
        }
    }
}
