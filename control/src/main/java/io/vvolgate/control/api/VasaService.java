package io.vvolgate.control.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vvolgate.gateway.AdminException;
import io.vvolgate.gateway.DeviceInfo;
import io.vvolgate.gateway.Gateway;
import io.vvolgate.gateway.GatewaySpec;
import io.vvolgate.gateway.ProtocolEndpointInfo;
import io.vvolgate.gateway.VolumeInfo;
import io.vvolgate.gateway.volume.VolumeType;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The VASA provider's operations over the gateway's admin API: storage containers and their capabilities,
 * capability profiles, virtual volumes, hosts, protocol endpoints, bind and unbind, tasks, events and
 * alarms. Results are JSON objects shaped as the OpenAPI document says. Control state that the volume
 * engine does not keep (profiles, hosts, which profile a volume follows, bindings) is saved to
 * {@link StateFile} before an operation answers.
 *
 * <p>Threads: operations run on the API's worker threads and are serialised on this object (they are
 * rare, and most are one durable metadata record); the monitor tick and the performance sampler run on
 * a timer and take the same lock only to read.
 */
public final class VasaService implements AutoCloseable {
    /** Snapshots a profile may keep at most (what the engine is tested for per volume). */
    static final int MAX_SNAPSHOT_RETENTION = 256;
    /** Prepared snapshots expire after this. */
    static final long PREPARED_MILLIS = 60_000;
    /** Performance samples: one per interval, the last 15 minutes. */
    public static final int SAMPLE_SECONDS = 5;
    static final int SAMPLES = 15 * 60 / SAMPLE_SECONDS;

    /** What the configuration says of each container beyond what the gateway knows. */
    public record ContainerPolicy(String name, long qosIopsCapacity) {
    }

    private final Gateway gateway;
    private final StateFile stateFile;
    private final JsonObject state;
    private final Accounts accounts;
    private final Map<String, ContainerPolicy> policies;
    private final Set<String> configuredHosts;
    private final Tasks tasks = new Tasks();
    private final Monitor monitor = new Monitor();
    private final ExecutorService background = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vvolgate-control-tasks");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, JsonObject> prepared = new HashMap<>();
    private final Map<String, ArrayDeque<JsonObject>> samples = new LinkedHashMap<>();
    /** Each volume's cumulative figures at the last sample (see {@link #sample}). */
    private Map<UUID, long[]> lastFigures = Map.of();
    private long lastSampleNanos;

    public VasaService(Gateway gateway, StateFile stateFile, JsonObject state, List<ContainerPolicy> policies,
                       Set<String> configuredHosts) {
        this.gateway = gateway;
        this.stateFile = stateFile;
        this.state = state;
        for (String key : List.of("users", "profiles", "hosts", "vvols", "bindings")) {
            if (!state.containsKey(key)) {
                state.put(key, new JsonObject());
            }
        }
        this.accounts = new Accounts(state.getJsonObject("users"));
        this.policies = new HashMap<>();
        for (ContainerPolicy p : policies) {
            this.policies.put(p.name(), p);
        }
        this.configuredHosts = Set.copyOf(configuredHosts);
        for (JsonObject h : objects(state.getJsonObject("hosts"))) {
            gateway.allowHost(h.getString("nqn"));
        }
        if (state.getJsonObject("profiles").isEmpty()) {
            String id = "profile-" + UUID.randomUUID();
            state.getJsonObject("profiles").put(id, new JsonObject().put("id", id).put("name", "Thin, 512-byte LBAs")
                    .put("description", "The default: space is used as data is written; no QoS limits.")
                    .put("provisioning", "thin").put("lbaSize", 512).put("createdAt", Instant.now().toString()));
        }
    }

    /** The bindings to restore when the gateway starts, from the state document. */
    public static List<GatewaySpec.BindingSpec> bindingsToRestore(JsonObject state) {
        List<GatewaySpec.BindingSpec> out = new ArrayList<>();
        JsonObject bindings = state.getJsonObject("bindings", new JsonObject());
        JsonObject hosts = state.getJsonObject("hosts", new JsonObject());
        for (String vvol : bindings.fieldNames()) {
            JsonObject b = bindings.getJsonObject(vvol);
            List<String> nqns = new ArrayList<>();
            for (Object hostId : b.getJsonArray("hosts", new JsonArray())) {
                JsonObject h = hosts.getJsonObject((String) hostId);
                if (h != null) {
                    nqns.add(h.getString("nqn"));
                }
            }
            out.add(new GatewaySpec.BindingSpec(b.getString("container"), UUID.fromString(vvol), b.getInteger("nsid"), nqns));
        }
        return out;
    }

    /** Host NQNs the state document registers (admitted to the protocol endpoint subsystems at start). */
    public static List<String> registeredHosts(JsonObject state) {
        List<String> out = new ArrayList<>();
        for (JsonObject h : objects(state.getJsonObject("hosts", new JsonObject()))) {
            out.add(h.getString("nqn"));
        }
        return out;
    }

    Accounts accounts() {
        return accounts;
    }

    Gateway gateway() {
        return gateway;
    }

    synchronized void save() {
        try {
            stateFile.save(state);
        } catch (IOException e) {
            throw new ApiError(500, "state_unwritable", "the control state cannot be saved to " + stateFile.path() + ": " + e.getMessage());
        }
    }

    private static List<JsonObject> objects(JsonObject map) {
        List<JsonObject> out = new ArrayList<>();
        for (String k : map.fieldNames()) {
            out.add(map.getJsonObject(k));
        }
        return out;
    }

    /** Runs a gateway call, turning its refusals into API errors with stable codes. */
    private static <T> T call(java.util.function.Supplier<T> op) {
        try {
            return op.get();
        } catch (AdminException e) {
            throw switch (e.kind()) {
                case NOT_FOUND -> new ApiError(404, "not_found", e.getMessage());
                case INVALID -> new ApiError(400, "invalid_value", e.getMessage());
                case CONFLICT -> new ApiError(409, "conflict", e.getMessage());
                case NO_SPACE -> new ApiError(507, "insufficient_space", e.getMessage());
            };
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Containers

    private Gateway.ContainerStatus container(String idOrName) {
        for (Gateway.ContainerStatus c : gateway.containers()) {
            if (c.name().equals(idOrName) || c.id().toString().equalsIgnoreCase(idOrName)) {
                return c;
            }
        }
        throw ApiError.notFound("container_not_found", "there is no storage container \"" + idOrName + "\"");
    }

    private Gateway.ContainerStatus containerByName(String name) {
        return container(name);
    }

    public synchronized JsonArray queryStorageContainer() {
        JsonArray out = new JsonArray();
        for (Gateway.ContainerStatus c : gateway.containers()) {
            out.add(containerJson(c));
        }
        return out;
    }

    private JsonObject containerJson(Gateway.ContainerStatus c) {
        List<DeviceInfo> devices = gateway.devices().stream().filter(d -> d.container().equals(c.name())).toList();
        String health = "ok";
        if (devices.size() == 2) {
            health = devices.stream().anyMatch(d -> d.state().equals("resyncing")) ? "resyncing"
                    : devices.stream().allMatch(d -> d.state().equals("in_sync")) ? "in_sync" : "degraded";
        }
        JsonArray pes = new JsonArray();
        for (ProtocolEndpointInfo pe : gateway.protocolEndpoints()) {
            if (pe.container().equals(c.name())) {
                pes.add(peId(pe));
            }
        }
        return new JsonObject().put("id", c.id().toString()).put("name", c.name()).put("mirrored", devices.size() == 2)
                .put("state", health).put("space", spaceJson(c.name())).put("capabilities", capabilities(c.name()))
                .put("protocolEndpointIds", pes);
    }

    private JsonObject capabilities(String container) {
        ContainerPolicy p = policies.getOrDefault(container, new ContainerPolicy(container, 0));
        return new JsonObject().put("provisioning", new JsonArray().add("thin").add("thick"))
                .put("lbaSizes", new JsonArray().add(512).add(4096)).put("maxSnapshotRetention", MAX_SNAPSHOT_RETENTION)
                .put("qos", new JsonObject().put("iopsLimit", true).put("throughputLimit", true)
                        .put("iopsReservationCapacity", p.qosIopsCapacity()).put("iopsReserved", reservedIops(container, null)));
    }

    private long reservedIops(String container, String exceptVvol) {
        long sum = 0;
        JsonObject vvols = state.getJsonObject("vvols");
        for (String id : vvols.fieldNames()) {
            JsonObject v = vvols.getJsonObject(id);
            if (container.equals(v.getString("container")) && !id.equals(exceptVvol)) {
                JsonObject profile = profileOrNull(v.getString("profileId"));
                if (profile != null && profile.getLong("iopsReservation") != null) {
                    sum += profile.getLong("iopsReservation");
                }
            }
        }
        return sum;
    }

    public synchronized JsonObject spaceStatsForStorageContainer(String containerId) {
        return spaceJson(container(containerId).name());
    }

    private JsonObject spaceJson(String name) {
        Gateway.SpaceInfo s = call(() -> gateway.space(name));
        return new JsonObject().put("capacityBytes", s.capacity()).put("usedBytes", s.used()).put("freeBytes", s.free())
                .put("provisionedBytes", s.provisioned()).put("snapshotBytes", s.snapshotBytes()).put("reservedBytes", s.reserved())
                .put("volumes", s.volumes()).put("snapshots", s.snapshots());
    }

    // ---------------------------------------------------------------------------------------------------
    // Capability profiles

    private JsonObject profileOrNull(String id) {
        return id == null ? null : state.getJsonObject("profiles").getJsonObject(id);
    }

    private JsonObject profile(String id, String field) {
        JsonObject p = profileOrNull(id);
        if (p == null) {
            throw new ApiError(404, "profile_not_found", "there is no capability profile \"" + id + "\"", field);
        }
        return p;
    }

    public synchronized JsonArray queryCapabilityProfile() {
        JsonArray out = new JsonArray();
        for (JsonObject p : objects(state.getJsonObject("profiles"))) {
            out.add(p.copy().put("volumes", usersOf(p.getString("id"))));
        }
        return out;
    }

    private int usersOf(String profileId) {
        int n = 0;
        for (JsonObject v : objects(state.getJsonObject("vvols"))) {
            if (profileId.equals(v.getString("profileId"))) {
                n++;
            }
        }
        return n;
    }

    public synchronized JsonObject createCapabilityProfile(JsonObject req) {
        String name = req.getString("name").trim();
        for (JsonObject p : objects(state.getJsonObject("profiles"))) {
            if (p.getString("name").equalsIgnoreCase(name)) {
                throw new ApiError(409, "name_taken", "a capability profile named \"" + name + "\" exists already", "name");
            }
        }
        Long iops = req.getLong("iopsLimit");
        Long mbps = req.getLong("throughputLimitMBps");
        Long reservation = req.getLong("iopsReservation");
        if (reservation != null && iops != null && reservation > iops) {
            throw new ApiError(400, "invalid_value", "the IOPS reservation (" + reservation + ") cannot be above the IOPS limit ("
                    + iops + ")", "iopsReservation");
        }
        if (reservation != null && policies.values().stream().noneMatch(p -> p.qosIopsCapacity() >= reservation)) {
            throw new ApiError(400, "not_enforceable", "no storage container can set aside " + reservation
                    + " IOPS; the largest reservation capacity is "
                    + policies.values().stream().mapToLong(ContainerPolicy::qosIopsCapacity).max().orElse(0), "iopsReservation");
        }
        String id = "profile-" + UUID.randomUUID();
        JsonObject p = new JsonObject().put("id", id).put("name", name).put("description", req.getString("description", ""))
                .put("provisioning", req.getString("provisioning", "thin")).put("lbaSize", req.getInteger("lbaSize", 512))
                .put("createdAt", Instant.now().toString());
        if (iops != null) {
            p.put("iopsLimit", iops);
        }
        if (mbps != null) {
            p.put("throughputLimitMBps", mbps);
        }
        if (reservation != null) {
            p.put("iopsReservation", reservation);
        }
        if (req.getInteger("snapshotRetention") != null) {
            p.put("snapshotRetention", req.getInteger("snapshotRetention"));
        }
        state.getJsonObject("profiles").put(id, p);
        save();
        return p.copy().put("volumes", 0);
    }

    public synchronized void deleteCapabilityProfile(String id) {
        profile(id, null);
        int users = usersOf(id);
        if (users > 0) {
            throw ApiError.conflict("profile_in_use", users + " virtual volume(s) follow this profile; give them another first");
        }
        state.getJsonObject("profiles").remove(id);
        save();
    }

    // ---------------------------------------------------------------------------------------------------
    // Virtual volumes

    /** Where a volume lives: from the index of volumes made through the API, else by looking. */
    private String containerOf(String vvolId) {
        UUID uuid = parseVvolId(vvolId);
        JsonObject known = state.getJsonObject("vvols").getJsonObject(uuid.toString());
        if (known != null) {
            return known.getString("container");
        }
        for (Gateway.ContainerStatus c : gateway.containers()) {
            for (VolumeInfo v : gateway.volumes(c.name())) {
                if (v.uuid().equals(uuid)) {
                    return c.name();
                }
            }
        }
        throw ApiError.notFound("vvol_not_found", "there is no virtual volume " + vvolId);
    }

    private static UUID parseVvolId(String id) {
        try {
            return UUID.fromString(id);
        } catch (IllegalArgumentException e) {
            throw ApiError.notFound("vvol_not_found", "there is no virtual volume " + id + " (a virtual volume ID is a UUID)");
        }
    }

    private VolumeInfo info(String vvolId) {
        String container = containerOf(vvolId);
        try {
            return gateway.volume(container, parseVvolId(vvolId));
        } catch (AdminException e) {
            throw ApiError.notFound("vvol_not_found", "there is no virtual volume " + vvolId);
        }
    }

    private JsonObject hostByNqn(String nqn) {
        for (JsonObject h : objects(state.getJsonObject("hosts"))) {
            if (h.getString("nqn").equals(nqn)) {
                return h;
            }
        }
        return null;
    }

    private String peId(ProtocolEndpointInfo pe) {
        return "pe-" + pe.container() + "-" + pe.anaGroup();
    }

    private ProtocolEndpointInfo peOf(String container) {
        return gateway.protocolEndpoints().stream().filter(p -> p.container().equals(container)).findFirst().orElse(null);
    }

    JsonObject vvolJson(VolumeInfo v) {
        JsonObject meta = state.getJsonObject("vvols").getJsonObject(v.uuid().toString());
        String profileId = meta == null ? null : meta.getString("profileId");
        JsonArray bindings = new JsonArray();
        ProtocolEndpointInfo pe = peOf(v.container());
        for (String nqn : v.boundHosts().stream().sorted().toList()) {
            JsonObject h = hostByNqn(nqn);
            bindings.add(new JsonObject().put("vvolId", v.uuid().toString()).put("hostId", h == null ? nqn : h.getString("id"))
                    .put("hostNqn", nqn).put("protocolEndpointId", pe == null ? null : peId(pe))
                    .put("subsystemNqn", pe == null ? null : pe.subsystemNqn()).put("nsid", v.bindNsid())
                    .put("anaGroupId", pe == null ? 0 : pe.anaGroup()));
        }
        Gateway.ContainerStatus c = containerByName(v.container());
        JsonObject json = new JsonObject().put("id", v.uuid().toString()).put("name", v.name()).put("containerId", c.id().toString())
                .put("type", v.type().name().toLowerCase(Locale.ROOT)).put("sizeBytes", v.size()).put("lbaSize", v.blockSize())
                .put("provisioning", v.thick() ? "thick" : "thin").put("snapshot", v.snapshot())
                .put("parentId", v.parent() == null ? null : v.parent().toString()).put("profileId", profileId)
                .put("allocatedBytes", v.allocatedBytes()).put("fullCopyProgress", v.copyProgress())
                .put("bindings", bindings).put("metadata", new JsonObject(new LinkedHashMap<>(v.metadata())))
                .put("nguid", HexFormat.of().formatHex(v.nguid())).put("exported", v.configNsid() != 0);
        json.put("compliant", profileId == null ? null : problems(v, profileOrNull(profileId)).isEmpty());
        return json;
    }

    public synchronized JsonArray queryVirtualVolume(String container, String type, String profile, String host, Boolean bound,
                                                     Boolean snapshots, String q) {
        List<Gateway.ContainerStatus> scope = container == null ? gateway.containers() : List.of(container(container));
        String hostNqn = null;
        if (host != null) {
            hostNqn = host(host, "host").getString("nqn");
        }
        JsonArray out = new JsonArray();
        for (Gateway.ContainerStatus c : scope) {
            for (VolumeInfo v : call(() -> gateway.volumes(c.name()))) {
                if (type != null && !v.type().name().equalsIgnoreCase(type)) {
                    continue;
                }
                if (snapshots != null && v.snapshot() != snapshots) {
                    continue;
                }
                if (q != null && !v.name().toLowerCase(Locale.ROOT).contains(q.toLowerCase(Locale.ROOT))) {
                    continue;
                }
                if (bound != null && v.boundHosts().isEmpty() == bound) {
                    continue;
                }
                if (hostNqn != null && !v.boundHosts().contains(hostNqn)) {
                    continue;
                }
                JsonObject json = vvolJson(v);
                if (profile != null && !profile.equals(json.getString("profileId"))) {
                    continue;
                }
                out.add(json);
            }
        }
        return out;
    }

    public synchronized JsonObject queryVirtualVolumeInfo(String vvolId) {
        return vvolJson(info(vvolId));
    }

    public synchronized JsonObject createVirtualVolume(JsonObject req) {
        Gateway.ContainerStatus c = container(req.getString("container"));
        JsonObject profile = req.getString("profileId") == null ? null : profile(req.getString("profileId"), "profileId");
        String provisioning = req.getString("provisioning", profile == null ? "thin" : profile.getString("provisioning"));
        if (profile != null && req.getString("provisioning") != null && !provisioning.equals(profile.getString("provisioning"))) {
            throw new ApiError(400, "profile_mismatch", "the profile asks for " + profile.getString("provisioning")
                    + " provisioning, the request for " + provisioning, "provisioning");
        }
        int lba = req.getInteger("lbaSize", profile == null ? 512 : profile.getInteger("lbaSize"));
        if (profile != null && req.getInteger("lbaSize") != null && lba != profile.getInteger("lbaSize")) {
            throw new ApiError(400, "profile_mismatch", "the profile asks for " + profile.getInteger("lbaSize")
                    + "-byte LBAs, the request for " + lba, "lbaSize");
        }
        long size = req.getLong("sizeBytes");
        if (size % lba != 0) {
            throw new ApiError(400, "invalid_size", "the size must be a multiple of the " + lba + "-byte LBA size; " + size
                    + " is not (try " + ((size + lba - 1) / lba * lba) + ")", "sizeBytes");
        }
        checkReservation(c.name(), profile, null);
        checkName(c.name(), req.getString("name"));
        VolumeType type = VolumeType.valueOf(req.getString("type", "data").toUpperCase(Locale.ROOT));
        Map<String, String> metadata = new LinkedHashMap<>();
        JsonObject m = req.getJsonObject("metadata", new JsonObject());
        for (String k : m.fieldNames()) {
            metadata.put(k, m.getString(k));
        }
        VolumeInfo v = call(() -> gateway.createVolume(c.name(), req.getString("name"), type, size, lba, provisioning.equals("thick"), metadata));
        remember(v, profile == null ? null : profile.getString("id"));
        applyQos(c.name(), v.uuid(), profile);
        return vvolJson(v);
    }

    private void checkName(String container, String name) {
        for (VolumeInfo v : gateway.volumes(container)) {
            if (v.name().equals(name)) {
                throw new ApiError(409, "name_taken", "storage container " + container + " already has a virtual volume named \""
                        + name + "\"", "name");
            }
        }
    }

    private void checkReservation(String container, JsonObject profile, String exceptVvol) {
        if (profile == null || profile.getLong("iopsReservation") == null) {
            return;
        }
        long capacity = policies.getOrDefault(container, new ContainerPolicy(container, 0)).qosIopsCapacity();
        long wanted = reservedIops(container, exceptVvol) + profile.getLong("iopsReservation");
        if (wanted > capacity) {
            throw new ApiError(409, "reservation_exceeded", "storage container " + container + " can set aside " + capacity
                    + " IOPS in all; with this volume the reservations would add up to " + wanted, "profileId");
        }
    }

    /** Puts a volume's profile's QoS limits into the data path (none without a profile). */
    private void applyQos(String container, UUID id, JsonObject profile) {
        long iops = profile == null ? 0 : profile.getLong("iopsLimit", 0L);
        long bps = profile == null ? 0 : profile.getLong("throughputLimitMBps", 0L) * 1_000_000L;
        call(() -> {
            gateway.setQos(container, id, iops, bps);
            return null;
        });
    }

    /** At start: every volume's QoS limits from its profile. */
    public synchronized void applyAllQos() {
        JsonObject vvols = state.getJsonObject("vvols");
        for (String id : vvols.fieldNames()) {
            JsonObject v = vvols.getJsonObject(id);
            JsonObject profile = profileOrNull(v.getString("profileId"));
            if (profile != null) {
                try {
                    applyQos(v.getString("container"), UUID.fromString(id), profile);
                } catch (ApiError gone) {
                    // the volume went while the appliance was down (e.g. a container restored from a backup)
                }
            }
        }
    }

    private void remember(VolumeInfo v, String profileId) {
        state.getJsonObject("vvols").put(v.uuid().toString(), new JsonObject().put("container", v.container()).put("profileId", profileId)
                .put("createdAt", Instant.now().toString()));
        save();
    }

    public synchronized JsonObject deleteVirtualVolume(String vvolId) {
        VolumeInfo v = info(vvolId);
        if (!v.boundHosts().isEmpty()) {
            throw ApiError.conflict("vvol_bound", "virtual volume \"" + v.name() + "\" is bound to " + v.boundHosts().size()
                    + " host(s); unbind it first");
        }
        if (v.configNsid() != 0) {
            throw ApiError.conflict("vvol_exported", "virtual volume \"" + v.name() + "\" is exported by the configuration file"
                    + " (namespace " + v.configNsid() + "); remove that namespace first");
        }
        CompletableFuture<JsonObject> work = CompletableFuture.supplyAsync(() -> {
            synchronized (VasaService.this) {
                call(() -> {
                    gateway.deleteVolume(v.container(), v.uuid());
                    return null;
                });
                state.getJsonObject("vvols").remove(v.uuid().toString());
                state.getJsonObject("bindings").remove(v.uuid().toString());
                save();
                monitor.event("info", "vvol_deleted", v.uuid().toString(), "virtual volume \"" + v.name() + "\" deleted");
                return new JsonObject().put("vvolId", v.uuid().toString());
            }
        }, background);
        return tasks.start("deleteVirtualVolume", v.uuid().toString(), () -> 0, work);
    }

    public synchronized JsonObject resizeVirtualVolume(String vvolId, long size) {
        VolumeInfo v = info(vvolId);
        if (size % v.blockSize() != 0) {
            throw new ApiError(400, "invalid_size", "the size must be a multiple of the " + v.blockSize() + "-byte LBA size; " + size
                    + " is not", "sizeBytes");
        }
        if (size < v.size()) {
            throw new ApiError(409, "shrink_refused", "shrinking \"" + v.name() + "\" from " + v.size() + " to " + size
                    + " bytes is refused: the data past the new end would be lost", "sizeBytes");
        }
        return vvolJson(call(() -> gateway.resizeVolume(v.container(), v.uuid(), size)));
    }

    public synchronized JsonObject prepareToSnapshotVirtualVolume(String vvolId) {
        VolumeInfo v = info(vvolId);
        if (v.snapshot()) {
            throw ApiError.conflict("is_snapshot", "\"" + v.name() + "\" is a snapshot; snapshots are taken of volumes");
        }
        long now = System.currentTimeMillis();
        prepared.values().removeIf(p -> p.getLong("expires") < now);
        String id = "prepared-" + UUID.randomUUID();
        prepared.put(id, new JsonObject().put("vvolId", v.uuid().toString()).put("expires", now + PREPARED_MILLIS));
        return new JsonObject().put("preparedId", id).put("vvolId", v.uuid().toString())
                .put("expiresAt", Instant.ofEpochMilli(now + PREPARED_MILLIS).toString());
    }

    public synchronized JsonObject snapshotVirtualVolume(String vvolId, JsonObject req) {
        VolumeInfo v = info(vvolId);
        if (v.snapshot()) {
            throw ApiError.conflict("is_snapshot", "\"" + v.name() + "\" is a snapshot; snapshots are taken of volumes");
        }
        String preparedId = req.getString("preparedId");
        if (preparedId != null) {
            JsonObject p = prepared.remove(preparedId);
            if (p == null || p.getLong("expires") < System.currentTimeMillis() || !p.getString("vvolId").equals(v.uuid().toString())) {
                throw new ApiError(409, "not_prepared", "snapshot " + preparedId + " was not prepared for this volume, or it expired"
                        + " (a prepared snapshot must be taken within 60 seconds)", "preparedId");
            }
        }
        String name = req.getString("name", v.name() + "@" + Instant.now().toString().replace(':', '-'));
        checkName(v.container(), name);
        VolumeInfo snap = call(() -> gateway.snapshotVolume(v.container(), v.uuid(), name));
        JsonObject parentMeta = state.getJsonObject("vvols").getJsonObject(v.uuid().toString());
        remember(snap, null);
        if (parentMeta != null && parentMeta.getString("profileId") != null) {
            enforceRetention(v, profileOrNull(parentMeta.getString("profileId")));
        }
        return vvolJson(snap);
    }

    /** Deletes the oldest snapshots of {@code v} beyond its profile's retention count (bound ones are kept). */
    private void enforceRetention(VolumeInfo v, JsonObject profile) {
        if (profile == null || profile.getInteger("snapshotRetention") == null) {
            return;
        }
        int keep = profile.getInteger("snapshotRetention");
        List<VolumeInfo> snaps = new ArrayList<>(gateway.volumes(v.container()).stream()
                .filter(s -> s.snapshot() && v.uuid().equals(s.parent())).toList());
        while (snaps.size() > keep) {
            VolumeInfo oldest = snaps.removeFirst();
            if (!oldest.boundHosts().isEmpty() || oldest.configNsid() != 0) {
                continue;
            }
            call(() -> {
                gateway.deleteVolume(v.container(), oldest.uuid());
                return null;
            });
            state.getJsonObject("vvols").remove(oldest.uuid().toString());
            monitor.event("info", "snapshot_retired", oldest.uuid().toString(), "snapshot \"" + oldest.name()
                    + "\" deleted: the profile of \"" + v.name() + "\" keeps " + keep);
        }
        save();
    }

    /** A linked clone of a snapshot; of a writable volume, through a new snapshot of it. */
    public synchronized JsonObject fastCloneVirtualVolume(String vvolId, JsonObject req) {
        VolumeInfo source = cloneSource(vvolId, req);
        VolumeInfo clone = call(() -> gateway.cloneVolume(source.container(), source.uuid(), req.getString("name"), false));
        remember(clone, profileFor(vvolId, req));
        applyQos(clone.container(), clone.uuid(), profileOrNull(profileFor(vvolId, req)));
        return vvolJson(clone);
    }

    public synchronized JsonObject cloneVirtualVolume(String vvolId, JsonObject req) {
        VolumeInfo source = cloneSource(vvolId, req);
        VolumeInfo clone = call(() -> gateway.cloneVolume(source.container(), source.uuid(), req.getString("name"), true));
        remember(clone, profileFor(vvolId, req));
        applyQos(clone.container(), clone.uuid(), profileOrNull(profileFor(vvolId, req)));
        String container = clone.container();
        UUID id = clone.uuid();
        CompletableFuture<JsonObject> done = gateway.copyDone(container, id)
                .thenApply(x -> new JsonObject().put("vvolId", id.toString()));
        return tasks.start("cloneVirtualVolume", id.toString(), () -> gateway.copyProgress(container, id), done)
                .put("result", new JsonObject().put("vvolId", id.toString()));
    }

    private VolumeInfo cloneSource(String vvolId, JsonObject req) {
        VolumeInfo v = info(vvolId);
        checkName(v.container(), req.getString("name"));
        if (req.getString("profileId") != null) {
            profile(req.getString("profileId"), "profileId");
        }
        if (v.snapshot()) {
            return v;
        }
        String base = req.getString("name") + "-base";
        checkName(v.container(), base);
        VolumeInfo snap = call(() -> gateway.snapshotVolume(v.container(), v.uuid(), base));
        remember(snap, null);
        return snap;
    }

    private String profileFor(String sourceId, JsonObject req) {
        if (req.getString("profileId") != null) {
            return req.getString("profileId");
        }
        JsonObject meta = state.getJsonObject("vvols").getJsonObject(parseVvolId(sourceId).toString());
        return meta == null ? null : meta.getString("profileId");
    }

    public synchronized JsonObject revertVirtualVolume(String vvolId, String snapshotId) {
        VolumeInfo v = info(vvolId);
        VolumeInfo s;
        try {
            s = info(snapshotId);
        } catch (ApiError e) {
            throw new ApiError(404, "snapshot_not_found", "there is no snapshot " + snapshotId, "snapshotId");
        }
        if (!s.container().equals(v.container())) {
            throw new ApiError(409, "conflict", "\"" + s.name() + "\" is not a snapshot of \"" + v.name() + "\"", "snapshotId");
        }
        return vvolJson(call(() -> gateway.revertVolume(v.container(), v.uuid(), s.uuid())));
    }

    public synchronized JsonObject queryVirtualVolumeMetaData(String vvolId) {
        return new JsonObject(new LinkedHashMap<>(info(vvolId).metadata()));
    }

    public synchronized JsonObject updateVirtualVolumeMetaData(String vvolId, JsonObject changes) {
        VolumeInfo v = info(vvolId);
        Map<String, String> map = new LinkedHashMap<>();
        for (String k : changes.fieldNames()) {
            Object value = changes.getValue(k);
            if (value != null && !(value instanceof String)) {
                throw new ApiError(400, "invalid_value", "metadata values are strings (or null to remove a key); \"" + k + "\" is not", k);
            }
            map.put(k, (String) value);
        }
        return new JsonObject(new LinkedHashMap<>(call(() -> gateway.updateMetadata(v.container(), v.uuid(), map)).metadata()));
    }

    public synchronized JsonObject allocatedBitmapVirtualVolume(String vvolId, Long offset, Long length) {
        VolumeInfo v = info(vvolId);
        return bitmapJson(v, call(() -> gateway.allocatedBitmap(v.container(), v.uuid())), offset, length);
    }

    public synchronized JsonObject unsharedBitmapVirtualVolume(String vvolId, String baseId, Long offset, Long length) {
        VolumeInfo v = info(vvolId);
        VolumeInfo base;
        try {
            base = info(baseId);
        } catch (ApiError e) {
            throw new ApiError(404, "snapshot_not_found", "there is no snapshot " + baseId, "baseVvolId");
        }
        VolumeInfo b = base;
        return bitmapJson(v, call(() -> gateway.unsharedBitmap(v.container(), v.uuid(), b.uuid())), offset, length);
    }

    private static JsonObject bitmapJson(VolumeInfo v, Gateway.ClusterBitmap map, Long offset, Long length) {
        long cs = map.clusterSize();
        long from = offset == null ? 0 : offset;
        long len = length == null ? v.size() - from : length;
        if (from % cs != 0 || from > v.size() || from + len > v.size() || len <= 0) {
            throw new ApiError(400, "invalid_range", "offset and length must lie within the volume's " + v.size()
                    + " bytes, the offset a multiple of the " + cs + "-byte chunk", offset != null ? "offset" : "length");
        }
        long first = from / cs;
        long count = (len + cs - 1) / cs;
        BitSet out = map.bits().get(Math.toIntExact(first), Math.toIntExact(first + count));
        byte[] bytes = java.util.Arrays.copyOf(out.toByteArray(), (int) ((count + 7) / 8));
        return new JsonObject().put("chunkSizeBytes", cs).put("offsetBytes", from).put("lengthBytes", len)
                .put("bitmap", Base64.getEncoder().encodeToString(bytes)).put("setChunks", out.cardinality());
    }

    // ---------------------------------------------------------------------------------------------------
    // Bind

    public synchronized JsonObject bindVirtualVolume(String vvolId, String hostRef) {
        VolumeInfo v = info(vvolId);
        JsonObject host = host(hostRef, "hostId");
        int nsid = call(() -> gateway.bind(v.container(), v.uuid(), host.getString("nqn")));
        if (v.configNsid() == 0) {
            JsonObject b = state.getJsonObject("bindings").getJsonObject(v.uuid().toString());
            if (b == null) {
                b = new JsonObject().put("container", v.container()).put("nsid", nsid).put("hosts", new JsonArray());
                state.getJsonObject("bindings").put(v.uuid().toString(), b);
            }
            if (!b.getJsonArray("hosts").contains(host.getString("id"))) {
                b.getJsonArray("hosts").add(host.getString("id"));
            }
            save();
        }
        ProtocolEndpointInfo pe = peOf(v.container());
        return new JsonObject().put("vvolId", v.uuid().toString()).put("hostId", host.getString("id")).put("hostNqn", host.getString("nqn"))
                .put("protocolEndpointId", peId(pe)).put("subsystemNqn", pe.subsystemNqn()).put("nsid", nsid).put("anaGroupId", pe.anaGroup());
    }

    public synchronized void unbindVirtualVolume(String vvolId, String hostRef) {
        VolumeInfo v = info(vvolId);
        JsonObject host = host(hostRef, "hostId");
        call(() -> {
            gateway.unbind(v.container(), v.uuid(), host.getString("nqn"));
            return null;
        });
        JsonObject b = state.getJsonObject("bindings").getJsonObject(v.uuid().toString());
        if (b != null) {
            b.getJsonArray("hosts").remove(host.getString("id"));
            save();
        }
    }

    public synchronized void unbindVirtualVolumeFromAllHost(String vvolId) {
        VolumeInfo v = info(vvolId);
        for (String nqn : v.boundHosts()) {
            call(() -> {
                gateway.unbind(v.container(), v.uuid(), nqn);
                return null;
            });
        }
        JsonObject b = state.getJsonObject("bindings").getJsonObject(v.uuid().toString());
        if (b != null) {
            b.put("hosts", new JsonArray());
            save();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Policy and compliance

    public synchronized JsonObject updateStorageProfileForVirtualVolume(String vvolId, String profileId) {
        VolumeInfo v = info(vvolId);
        JsonObject profile = profileId == null ? null : profile(profileId, "profileId");
        checkReservation(v.container(), profile, v.uuid().toString());
        JsonObject meta = state.getJsonObject("vvols").getJsonObject(v.uuid().toString());
        if (meta == null) {
            meta = new JsonObject().put("container", v.container());
            state.getJsonObject("vvols").put(v.uuid().toString(), meta);
        }
        meta.put("profileId", profileId);
        save();
        applyQos(v.container(), v.uuid(), profile);
        if (profile != null) {
            enforceRetention(v, profile);
        }
        return vvolJson(info(vvolId));
    }

    public synchronized JsonObject queryComplianceResult(String vvolId) {
        VolumeInfo v = info(vvolId);
        JsonObject meta = state.getJsonObject("vvols").getJsonObject(v.uuid().toString());
        String profileId = meta == null ? null : meta.getString("profileId");
        List<String> problems = profileId == null ? List.of() : problems(v, profileOrNull(profileId));
        return new JsonObject().put("vvolId", v.uuid().toString()).put("profileId", profileId).put("compliant", problems.isEmpty())
                .put("problems", new JsonArray(new ArrayList<>(problems)));
    }

    /** What keeps a volume from meeting its profile; empty when it does. */
    private List<String> problems(VolumeInfo v, JsonObject profile) {
        List<String> out = new ArrayList<>();
        if (profile == null) {
            out.add("its profile was deleted");
            return out;
        }
        if (v.snapshot()) {
            return out; // snapshots follow their volume's profile through it
        }
        String provisioning = profile.getString("provisioning");
        if (provisioning.equals("thick") != v.thick()) {
            out.add("the profile asks for " + provisioning + " provisioning; the volume is " + (v.thick() ? "thick" : "thin"));
        }
        if (profile.getInteger("lbaSize") != v.blockSize()) {
            out.add("the profile asks for " + profile.getInteger("lbaSize") + "-byte LBAs; the volume has " + v.blockSize());
        }
        long iops = profile.getLong("iopsLimit", 0L);
        long bps = profile.getLong("throughputLimitMBps", 0L) * 1_000_000L;
        for (Gateway.VolumeStats st : gateway.volumeStats()) {
            if (st.volume().equals(v.uuid()) && (st.stats().iopsLimit() != iops || st.stats().bytesPerSecondLimit() != bps)) {
                out.add("the profile limits it to " + (iops == 0 ? "any" : iops) + " IOPS and " + (bps == 0 ? "any" : bps)
                        + " bytes/s; the data path enforces " + st.stats().iopsLimit() + " and " + st.stats().bytesPerSecondLimit());
            }
        }
        Integer keep = profile.getInteger("snapshotRetention");
        if (keep != null) {
            long snaps = gateway.volumes(v.container()).stream().filter(s -> s.snapshot() && v.uuid().equals(s.parent())).count();
            if (snaps > keep) {
                out.add("the profile keeps " + keep + " snapshots; the volume has " + snaps + " (bound snapshots are not deleted)");
            }
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------------
    // Hosts and protocol endpoints

    private JsonObject host(String ref, String field) {
        if (ref == null) {
            throw new ApiError(400, "invalid_value", "name a host by its ID, name or NQN", field);
        }
        for (JsonObject h : objects(state.getJsonObject("hosts"))) {
            if (h.getString("id").equals(ref) || h.getString("name").equals(ref) || h.getString("nqn").equals(ref)) {
                return h;
            }
        }
        throw new ApiError(404, "host_not_found", "there is no registered host \"" + ref + "\"", field);
    }

    private JsonObject hostJson(JsonObject h) {
        String nqn = h.getString("nqn");
        long controllers = gateway.connections().stream().filter(c -> c.hostNqn().equals(nqn)).count();
        JsonArray bound = new JsonArray();
        for (Gateway.ContainerStatus c : gateway.containers()) {
            for (VolumeInfo v : gateway.volumes(c.name())) {
                if (v.boundHosts().contains(nqn)) {
                    bound.add(v.uuid().toString());
                }
            }
        }
        return h.copy().put("connected", controllers > 0).put("controllers", controllers).put("boundVvolIds", bound);
    }

    public synchronized JsonArray queryHosts() {
        JsonArray out = new JsonArray();
        for (JsonObject h : objects(state.getJsonObject("hosts"))) {
            out.add(hostJson(h));
        }
        return out;
    }

    public synchronized JsonObject queryHostInfo(String ref) {
        return hostJson(host(ref, null));
    }

    public synchronized JsonObject registerHost(JsonObject req) {
        String name = req.getString("name").trim();
        String nqn = req.getString("nqn").trim();
        for (JsonObject h : objects(state.getJsonObject("hosts"))) {
            if (h.getString("name").equals(name)) {
                throw new ApiError(409, "name_taken", "a host named \"" + name + "\" is registered already", "name");
            }
            if (h.getString("nqn").equals(nqn)) {
                throw new ApiError(409, "nqn_taken", "host NQN " + nqn + " is registered already as \"" + h.getString("name") + "\"", "nqn");
            }
        }
        String id = "host-" + UUID.randomUUID();
        JsonObject h = new JsonObject().put("id", id).put("name", name).put("nqn", nqn).put("wwpns", new JsonArray())
                .put("createdAt", Instant.now().toString());
        state.getJsonObject("hosts").put(id, h);
        save();
        gateway.allowHost(nqn);
        return hostJson(h);
    }

    public synchronized void unregisterHost(String ref) {
        JsonObject h = host(ref, null);
        JsonObject json = hostJson(h);
        if (!json.getJsonArray("boundVvolIds").isEmpty()) {
            throw ApiError.conflict("host_bound", json.getJsonArray("boundVvolIds").size() + " virtual volume(s) are bound to \""
                    + h.getString("name") + "\"; unbind them first");
        }
        state.getJsonObject("hosts").remove(h.getString("id"));
        save();
        gateway.disallowHost(h.getString("nqn"), configuredHosts);
        monitor.clear("host_connection_lost/" + h.getString("id"), "host \"" + h.getString("name") + "\" unregistered");
    }

    public synchronized JsonArray queryProtocolEndpoint() {
        JsonArray out = new JsonArray();
        for (ProtocolEndpointInfo pe : gateway.protocolEndpoints()) {
            JsonArray addresses = new JsonArray();
            for (Gateway.BoundListener l : pe.listeners()) {
                addresses.add(new JsonObject().put("address", l.address()).put("port", l.port()));
            }
            out.add(new JsonObject().put("id", peId(pe)).put("containerId", containerByName(pe.container()).id().toString())
                    .put("subsystemNqn", pe.subsystemNqn()).put("anaGroupId", pe.anaGroup()).put("anaState", anaState(pe.anaState()))
                    .put("transport", "tcp").put("addresses", addresses).put("boundVvols", pe.namespaces()));
        }
        return out;
    }

    private static String anaState(int s) {
        return switch (s) {
            case 1 -> "optimized";
            case 2 -> "non_optimized";
            case 3 -> "inaccessible";
            case 4 -> "persistent_loss";
            default -> "change";
        };
    }

    public JsonArray queryDevices() {
        JsonArray out = new JsonArray();
        for (DeviceInfo d : gateway.devices()) {
            Gateway.ContainerStatus c = containerByName(d.container());
            out.add(new JsonObject().put("id", c.id() + (d.leg() < 0 ? "" : "/leg" + d.leg())).put("containerId", c.id().toString())
                    .put("path", d.path().toString()).put("role", d.leg() < 0 ? "single" : "leg" + d.leg()).put("state", d.state())
                    .put("sizeBytes", d.size()).put("resyncProgress", d.resyncProgress()));
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------------
    // Tasks, events, alarms, performance

    public JsonArray queryTasks() {
        return tasks.list();
    }

    public JsonObject getTaskUpdate(String id) {
        return tasks.get(id);
    }

    public JsonArray getEvents(long since, int limit) {
        return monitor.events(since, limit);
    }

    public JsonArray getAlarms(Boolean active) {
        return monitor.alarms(active);
    }

    public JsonObject acknowledgeAlarm(String id) {
        return monitor.acknowledge(id);
    }

    Monitor monitor() {
        return monitor;
    }

    /**
     * One monitoring tick (every {@link #SAMPLE_SECONDS}): raises and clears alarms for capacity, devices,
     * compliance and host connections, and takes a performance sample.
     */
    public synchronized void tick() {
        for (Gateway.ContainerStatus c : gateway.containers()) {
            Gateway.SpaceInfo s = gateway.space(c.name());
            double used = s.capacity() == 0 ? 0 : (double) s.used() / s.capacity();
            String key = "capacity/" + c.id();
            if (used >= 0.9) {
                monitor.raise(key, "critical", "capacity", c.id().toString(), String.format(Locale.ROOT,
                        "storage container %s is %.0f%% full", c.name(), used * 100));
            } else if (used >= 0.8) {
                monitor.raise(key, "warning", "capacity", c.id().toString(), String.format(Locale.ROOT,
                        "storage container %s is %.0f%% full", c.name(), used * 100));
            } else {
                monitor.clear(key, "storage container " + c.name() + " is below 80% full again");
            }
        }
        for (DeviceInfo d : gateway.devices()) {
            trackResync(d);
            String key = "device/" + d.path();
            if (d.state().equals("failed") || d.state().equals("stale") || d.state().equals("missing")) {
                monitor.raise(key, "error", "device_failure", d.path().toString(), "device " + d.path() + " of container "
                        + d.container() + " is " + d.state() + "; the mirror runs on one leg");
            } else {
                monitor.clear(key, "device " + d.path() + " is " + d.state().replace('_', ' '));
            }
        }
        for (Gateway.ContainerStatus c : gateway.containers()) {
            for (VolumeInfo v : gateway.volumes(c.name())) {
                JsonObject meta = state.getJsonObject("vvols").getJsonObject(v.uuid().toString());
                if (meta == null || meta.getString("profileId") == null) {
                    continue;
                }
                List<String> problems = problems(v, profileOrNull(meta.getString("profileId")));
                String key = "compliance/" + v.uuid();
                if (problems.isEmpty()) {
                    monitor.clear(key, "virtual volume \"" + v.name() + "\" meets its profile again");
                } else {
                    monitor.raise(key, "warning", "non_compliance", v.uuid().toString(), "virtual volume \"" + v.name()
                            + "\" does not meet its profile: " + String.join("; ", problems));
                }
            }
        }
        List<Gateway.Connection> connections = gateway.connections();
        for (JsonObject h : objects(state.getJsonObject("hosts"))) {
            String nqn = h.getString("nqn");
            boolean connected = connections.stream().anyMatch(c -> c.hostNqn().equals(nqn));
            String key = "host_connection_lost/" + h.getString("id");
            if (connected) {
                h.put("seen", true);
                monitor.clear(key, "host \"" + h.getString("name") + "\" is connected again");
            } else if (Boolean.TRUE.equals(h.getBoolean("seen")) && !hostJson(h).getJsonArray("boundVvolIds").isEmpty()) {
                monitor.raise(key, "error", "host_connection_lost", h.getString("id"), "host \"" + h.getString("name")
                        + "\" has volumes bound but no connection");
            }
        }
        sample();
    }

    /** Resyncs in progress, by device path: the future their task follows, completed when the leg is in sync. */
    private final Map<String, CompletableFuture<JsonObject>> resyncs = new HashMap<>();

    /** A mirror leg that resyncs gets a task (started by the gateway, so found here) whose progress is the copy's. */
    private void trackResync(DeviceInfo d) {
        String key = d.path().toString();
        CompletableFuture<JsonObject> running = resyncs.get(key);
        if (d.state().equals("resyncing") && running == null) {
            CompletableFuture<JsonObject> done = new CompletableFuture<>();
            resyncs.put(key, done);
            tasks.start("resyncMirrorLeg", key, () -> gateway.devices().stream().filter(x -> x.path().toString().equals(key))
                    .map(x -> x.resyncProgress() == null ? 1.0 : x.resyncProgress()).findFirst().orElse(0.0), done);
            monitor.event("warning", "resync_started", key, "mirror leg " + key + " of container " + d.container() + " is being resynced");
        } else if (!d.state().equals("resyncing") && running != null) {
            resyncs.remove(key);
            if (d.state().equals("in_sync")) {
                running.complete(new JsonObject().put("device", key));
                monitor.event("info", "resync_done", key, "mirror leg " + key + " is in sync again");
            } else {
                running.completeExceptionally(new ApiError(500, "resync_failed", "the resync of " + key + " stopped: the leg is " + d.state()));
            }
        }
    }

    /**
     * Takes a performance sample: rates and mean latency over the time since the last one, per container and
     * per protocol endpoint, from the cumulative figures of each volume's metered device.
     */
    private void sample() {
        long now = System.nanoTime();
        Map<UUID, long[]> current = new HashMap<>();
        Map<String, long[]> deltas = new LinkedHashMap<>();
        Map<String, String[]> names = new LinkedHashMap<>();
        for (Gateway.ContainerStatus c : gateway.containers()) {
            deltas.put("container/" + c.id(), new long[6]);
            names.put("container/" + c.id(), new String[] {"container", c.id().toString(), c.name()});
        }
        for (ProtocolEndpointInfo pe : gateway.protocolEndpoints()) {
            deltas.put("pe/" + peId(pe), new long[6]);
            names.put("pe/" + peId(pe), new String[] {"protocol_endpoint", peId(pe), pe.subsystemNqn() + " (ANA group " + pe.anaGroup() + ")"});
        }
        for (Gateway.VolumeStats v : gateway.volumeStats()) {
            var st = v.stats();
            // reads, writes, bytes read, bytes written, latency count, latency sum (ns)
            long[] figures = {st.reads(), st.writes(), st.bytesRead(), st.bytesWritten(),
                    st.readLatency().count() + st.writeLatency().count(), st.readLatency().sumNanos() + st.writeLatency().sumNanos()};
            current.put(v.volume(), figures);
            long[] before = lastFigures.getOrDefault(v.volume(), new long[figures.length]);
            ProtocolEndpointInfo pe = peOf(v.container());
            for (String key : new String[] {"container/" + containerByName(v.container()).id(),
                    pe != null && v.anaGroup() == pe.anaGroup() ? "pe/" + peId(pe) : null}) {
                long[] into = key == null ? null : deltas.get(key);
                for (int i = 0; into != null && i < figures.length; i++) {
                    into[i] += figures[i] - before[i];
                }
            }
        }
        if (lastSampleNanos != 0) {
            double seconds = (now - lastSampleNanos) / 1e9;
            String time = Instant.now().toString();
            for (Map.Entry<String, long[]> e : deltas.entrySet()) {
                long[] d = e.getValue();
                ArrayDeque<JsonObject> series = samples.computeIfAbsent(e.getKey(), k -> new ArrayDeque<>());
                series.addLast(new JsonObject().put("time", time).put("readIops", d[0] / seconds).put("writeIops", d[1] / seconds)
                        .put("readBytesPerSecond", d[2] / seconds).put("writeBytesPerSecond", d[3] / seconds)
                        .put("latencyMicros", d[4] <= 0 ? 0.0 : d[5] / 1e3 / d[4]));
                if (series.size() > SAMPLES) {
                    series.removeFirst();
                }
                samplesNames.put(e.getKey(), names.get(e.getKey()));
            }
        }
        lastFigures = current;
        lastSampleNanos = now;
    }

    private final Map<String, String[]> samplesNames = new LinkedHashMap<>();


    public synchronized JsonObject queryPerformance() {
        JsonArray series = new JsonArray();
        for (Map.Entry<String, ArrayDeque<JsonObject>> e : samples.entrySet()) {
            String[] n = samplesNames.get(e.getKey());
            JsonArray points = new JsonArray();
            e.getValue().forEach(p -> points.add(p.copy()));
            series.add(new JsonObject().put("kind", n[0]).put("id", n[1]).put("name", n[2]).put("samples", points));
        }
        return new JsonObject().put("intervalSeconds", SAMPLE_SECONDS).put("series", series);
    }

    @Override
    public void close() {
        background.shutdown();
    }
}
