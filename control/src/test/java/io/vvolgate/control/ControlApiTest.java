package io.vvolgate.control;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.contract.Operation;
import io.vertx.openapi.validation.ResponseValidator;
import io.vertx.openapi.validation.ValidatableResponse;
import io.vvolgate.control.api.ApiServer;
import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ConfigParser;
import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.Status;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The REST API against a running appliance: every operation of the OpenAPI document is called and every
 * answer is validated against the document's response schema (so the implementation cannot drift from
 * it), every bad input gets its 4xx JSON error, roles are enforced, and the control state survives a
 * restart. Binding is checked on the wire with the NVMe/TCP host library.
 */
@Timeout(120)
class ControlApiTest {
    static final String HOST_NQN = "nqn.2014-08.org.example:esx-01";
    static Vertx vertx;
    static OpenAPIContract contract;
    static ResponseValidator validator;

    @TempDir
    Path dir;
    Appliance appliance;
    String url;
    String adminPassword;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    /** Operations answered and validated during a test. */
    final Set<String> covered = new TreeSet<>();

    @BeforeAll
    static void loadContract() throws Exception {
        vertx = Vertx.vertx();
        contract = OpenAPIContract.from(vertx, ApiServer.CONTRACT).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        validator = ResponseValidator.create(vertx, contract);
    }

    @AfterAll
    static void closeVertx() {
        vertx.close();
    }

    @AfterEach
    void stop() {
        if (appliance != null) {
            appliance.close();
        }
    }

    void start() throws Exception {
        ApplianceConfig config = ConfigParser.parse("""
                state_dir = "var"
                [api]
                port = 0
                [[listener]]
                address = "127.0.0.1"
                port = 0
                kind = "io"
                [[container]]
                name = "pool"
                devices = ["pool.img"]
                size = "256MiB"
                qos_iops_capacity = 1000
                """, "api.toml", dir);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        appliance = Appliance.start(config, new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        url = appliance.apiUrl();
        adminPassword = null;
        Matcher m = Pattern.compile("vvolgate: admin password (\\S+)").matcher(out.toString(StandardCharsets.UTF_8));
        if (m.find()) {
            adminPassword = m.group(1);
        }
    }

    int ioPort() {
        return appliance.listeners().getFirst().port();
    }

    record Answer(int status, String body) {
        JsonObject json() {
            return new JsonObject(body);
        }

        JsonArray array() {
            return new JsonArray(body);
        }

        String code() {
            return json().getJsonObject("error").getString("code");
        }
    }

    Answer send(String method, String path, String token, String contentType, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(30));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Answer(r.statusCode(), r.body());
    }

    /** Calls an operation of the document and validates the answer against it; returns the answer. */
    Answer op(String operationId, String token, Object body, Object... pathAndQuery) throws Exception {
        Operation operation = contract.operation(operationId);
        assertNotNull(operation, operationId + " is in the document");
        String path = operation.getOpenAPIPath();
        int i = 0;
        Matcher m = Pattern.compile("\\{([^}]+)}").matcher(path);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, Matcher.quoteReplacement(String.valueOf(pathAndQuery[i++])));
        }
        m.appendTail(sb);
        if (i < pathAndQuery.length) {
            sb.append('?').append(pathAndQuery[i]);
        }
        String text = body == null ? null : body instanceof JsonObject o ? o.encode() : body.toString();
        Answer a = send(operation.getHttpMethod().name(), sb.toString(), token, text == null ? null : "application/json", text);
        Buffer buffer = a.body().isEmpty() ? null : Buffer.buffer(a.body());
        ValidatableResponse response = buffer == null ? ValidatableResponse.create(a.status())
                : ValidatableResponse.create(a.status(), buffer, "application/json");
        try {
            validator.validate(response, operationId).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new AssertionError(operationId + " answered " + a.status() + " " + a.body() + ", which the document does not allow: "
                    + e.getCause().getMessage(), e.getCause());
        }
        covered.add(operationId);
        return a;
    }

    String login(String user, String password) throws Exception {
        Answer a = op("login", null, new JsonObject().put("username", user).put("password", password));
        assertEquals(200, a.status(), a.body());
        return a.json().getString("token");
    }

    static int[] activeNamespaces(NvmeTcpHost host) throws Exception {
        NvmeTcpQueue.Completion c = host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_ACTIVE_NAMESPACES, 0), null, 4096);
        ByteBuffer b = ByteBuffer.wrap(c.data()).order(ByteOrder.LITTLE_ENDIAN);
        int n = 0;
        while (n < 1024 && b.getInt(n * 4) != 0) {
            n++;
        }
        int[] out = new int[n];
        for (int k = 0; k < n; k++) {
            out[k] = b.getInt(k * 4);
        }
        return out;
    }

    @Test
    void everyOperationOfTheDocumentWorksAndAnswersAsDocumented() throws Exception {
        start();
        assertNotNull(adminPassword, "a first start prints a random admin password once");
        String admin = login("admin", adminPassword);
        assertEquals("admin", op("querySession", admin, null).json().getString("role"));
        assertEquals(201, op("createUser", admin, new JsonObject().put("username", "olga").put("password", "operator-pass-1")
                .put("role", "operator")).status());
        assertEquals(201, op("createUser", admin, new JsonObject().put("username", "vic").put("password", "viewer-pass-12")
                .put("role", "viewer")).status());
        assertEquals(3, op("queryUsers", admin, null).array().size());
        String operator = login("olga", "operator-pass-1");

        JsonArray containers = op("queryStorageContainer", operator, null).array();
        assertEquals(1, containers.size());
        JsonObject pool = containers.getJsonObject(0);
        assertEquals("pool", pool.getString("name"));
        assertTrue(op("spaceStatsForStorageContainer", operator, null, pool.getString("id")).json().getLong("capacityBytes") > 0);
        assertEquals(op("spaceStatsForStorageContainer", operator, null, "pool").json().getLong("capacityBytes"),
                pool.getJsonObject("space").getLong("capacityBytes"), "a container is found by name as by ID");

        JsonObject gold = op("createCapabilityProfile", operator, new JsonObject().put("name", "gold").put("provisioning", "thick")
                .put("lbaSize", 4096).put("iopsLimit", 5000).put("throughputLimitMBps", 200).put("iopsReservation", 400)
                .put("snapshotRetention", 2)).json();
        assertEquals(2, op("queryCapabilityProfile", operator, null).array().size(), "the default profile and gold");

        JsonObject vol = op("createVirtualVolume", operator, new JsonObject().put("container", "pool").put("name", "vm-1.vmdk")
                .put("sizeBytes", 16L << 20).put("profileId", gold.getString("id")).put("type", "data")
                .put("metadata", new JsonObject().put("VMW_VmID", "vm-42"))).json();
        String id = vol.getString("id");
        assertEquals("thick", vol.getString("provisioning"));
        assertEquals(4096, vol.getInteger("lbaSize"));
        assertEquals(true, vol.getBoolean("compliant"));
        assertEquals("vm-42", op("queryVirtualVolumeMetaData", operator, null, id).json().getString("VMW_VmID"));
        JsonObject meta = op("updateVirtualVolumeMetaData", operator, new JsonObject().put("VMW_VmID", (String) null)
                .put("VMW_GosType", "linux"), id).json();
        assertFalse(meta.containsKey("VMW_VmID"));
        assertEquals("linux", meta.getString("VMW_GosType"));
        assertEquals(32L << 20, op("resizeVirtualVolume", operator, new JsonObject().put("sizeBytes", 32L << 20), id).json()
                .getLong("sizeBytes"));
        assertEquals("vm-1.vmdk", op("queryVirtualVolumeInfo", operator, null, id).json().getString("name"));

        JsonObject host = op("registerHost", operator, new JsonObject().put("name", "esx-01").put("nqn", HOST_NQN)).json();
        assertEquals(1, op("queryHosts", operator, null).array().size());
        JsonArray pes = op("queryProtocolEndpoint", operator, null).array();
        assertEquals("nqn.2026-11.io.vvolgate:pool", pes.getJsonObject(0).getString("subsystemNqn"));

        try (NvmeTcpHost esx = NvmeTcpHost.connect("127.0.0.1", ioPort(), "nqn.2026-11.io.vvolgate:pool", HOST_NQN, 1, 32, false)) {
            assertArrayEquals(new int[0], activeNamespaces(esx));
            JsonObject binding = op("bindVirtualVolume", operator, new JsonObject().put("hostId", host.getString("id")), id).json();
            int nsid = binding.getInteger("nsid");
            assertEquals(pes.getJsonObject(0).getString("id"), binding.getString("protocolEndpointId"));
            assertArrayEquals(new int[] {nsid}, activeNamespaces(esx), "the bound volume is visible without reconnecting");
            assertEquals(1, op("queryHostInfo", operator, null, host.getString("id")).json().getJsonArray("boundVvolIds").size());
            assertEquals(1, op("queryVirtualVolume", operator, null, "bound=true&host=esx-01").array().size());
            Answer refused = op("deleteVirtualVolume", operator, null, id);
            assertEquals(409, refused.status());
            assertEquals("vvol_bound", refused.code());
            assertEquals(204, op("unbindVirtualVolume", operator, new JsonObject().put("hostId", "esx-01"), id).status());
            assertArrayEquals(new int[0], activeNamespaces(esx));
            assertEquals(Status.INVALID_NAMESPACE, esx.read(0, nsid, 0, 1, 4096).status());
            op("bindVirtualVolume", operator, new JsonObject().put("hostId", HOST_NQN), id);
            assertEquals(204, op("unbindVirtualVolumeFromAllHost", operator, null, id).status());
            assertArrayEquals(new int[0], activeNamespaces(esx));
        }

        String prepared = op("prepareToSnapshotVirtualVolume", operator, null, id).json().getString("preparedId");
        JsonObject snap1 = op("snapshotVirtualVolume", operator, new JsonObject().put("name", "s1").put("preparedId", prepared), id).json();
        assertTrue(snap1.getBoolean("snapshot"));
        assertEquals(id, snap1.getString("parentId"));
        op("snapshotVirtualVolume", operator, new JsonObject().put("name", "s2"), id);
        op("snapshotVirtualVolume", operator, new JsonObject().put("name", "s3"), id);
        JsonArray snaps = op("queryVirtualVolume", operator, null, "snapshots=true&container=pool").array();
        assertEquals(2, snaps.size(), "gold keeps 2 snapshots: the oldest went");
        JsonObject s3 = snaps.stream().map(JsonObject.class::cast).filter(s -> s.getString("name").equals("s3")).findFirst().orElseThrow();
        assertTrue(op("getEvents", operator, null, "since=0").array().stream()
                .anyMatch(e -> ((JsonObject) e).getString("type").equals("snapshot_retired")));

        JsonObject linked = op("fastCloneVirtualVolume", operator, new JsonObject().put("name", "linked"), s3.getString("id")).json();
        assertEquals(s3.getString("id"), linked.getString("parentId"));
        JsonObject task = op("cloneVirtualVolume", operator, new JsonObject().put("name", "full"), s3.getString("id")).json();
        String fullId = task.getJsonObject("result").getString("vvolId");
        waitForTask(operator, task.getString("id"));
        assertEquals(1, op("queryTasks", operator, null).array().size());
        assertEquals("full", op("queryVirtualVolumeInfo", operator, null, fullId).json().getString("name"));

        assertEquals(200, op("revertVirtualVolume", operator, new JsonObject().put("snapshotId", s3.getString("id")), id).status());
        JsonObject allocated = op("allocatedBitmapVirtualVolume", operator, null, id).json();
        assertEquals(65536, allocated.getLong("chunkSizeBytes"));
        JsonObject unshared = op("unsharedBitmapVirtualVolume", operator, null, id, "baseVvolId=" + s3.getString("id")).json();
        assertEquals(0, unshared.getLong("setChunks"), "just reverted: nothing differs from the snapshot");

        JsonObject compliance = op("queryComplianceResult", operator, null, id).json();
        assertTrue(compliance.getBoolean("compliant"), compliance.encode());
        JsonObject moved = op("updateStorageProfileForVirtualVolume", operator, new JsonObject().putNull("profileId"), id).json();
        assertEquals(null, moved.getString("profileId"));
        assertEquals(204, op("deleteCapabilityProfile", operator, null, gold.getString("id")).status());

        String deleting = op("deleteVirtualVolume", operator, null, linked.getString("id")).json().getString("id");
        waitForTask(operator, deleting);
        assertEquals(404, op("queryVirtualVolumeInfo", operator, null, linked.getString("id")).status());

        assertEquals(204, op("unregisterHost", operator, null, host.getString("id")).status());
        assertFalse(op("queryDevices", operator, null).array().isEmpty());
        assertTrue(op("getAlarms", operator, null).array().isEmpty());
        assertEquals(404, op("acknowledgeAlarm", operator, null, "alarm-99").status());
        assertTrue(op("queryPerformance", operator, null).json().getInteger("intervalSeconds") > 0);
        JsonArray audit = op("getAuditLog", operator, null, "limit=500").array();
        assertTrue(audit.stream().anyMatch(e -> ((JsonObject) e).getString("operation").equals("createVirtualVolume")
                && ((JsonObject) e).getString("user").equals("olga")), "the audit log says who created the volume");
        assertEquals(204, op("changePassword", admin, new JsonObject().put("password", "a-new-password-1"), "vic").status());
        assertEquals(204, op("deleteUser", admin, null, "vic").status());
        assertEquals(204, op("logout", operator, null).status());
        assertEquals(401, op("querySession", operator, null).status(), "a logged-out token is refused");

        Set<String> all = new TreeSet<>();
        contract.operations().forEach(o -> all.add(o.getOperationId()));
        all.removeAll(covered);
        assertEquals(Set.of(), all, "operations of the document not exercised");
    }

    void waitForTask(String token, String taskId) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            JsonObject t = op("getTaskUpdate", token, null, taskId).json();
            if (!t.getString("state").equals("running")) {
                assertEquals("success", t.getString("state"), t.encode());
                return;
            }
            assertTrue(System.nanoTime() < deadline, "task " + taskId + " still running: " + t.encode());
            Thread.onSpinWait();
        }
    }

    @Test
    void badInputsGetA4xxWithAStableCodeAndASentence() throws Exception {
        start();
        String admin = login("admin", adminPassword);
        op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "a").put("sizeBytes", 1L << 20));
        record Case(String what, Answer answer, int status, String code) {
        }
        String big = "{\"name\":\"" + "x".repeat(2 << 20) + "\"}";
        Case[] cases = {
                new Case("unknown volume", op("queryVirtualVolumeInfo", admin, null, "7f000000-0000-0000-0000-000000000000"), 404, "vvol_not_found"),
                new Case("not a UUID", op("queryVirtualVolumeInfo", admin, null, "nope"), 404, "vvol_not_found"),
                new Case("unknown container", op("createVirtualVolume", admin, new JsonObject().put("container", "nope").put("name", "b")
                        .put("sizeBytes", 1L << 20)), 404, "container_not_found"),
                new Case("size not a multiple of the LBA", op("createVirtualVolume", admin, new JsonObject().put("container", "pool")
                        .put("name", "b").put("sizeBytes", 1000)), 400, "invalid_size"),
                new Case("negative size", op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "b")
                        .put("sizeBytes", -5)), 400, "invalid_request"),
                new Case("name clash", op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "a")
                        .put("sizeBytes", 1L << 20)), 409, "name_taken"),
                new Case("too thick", op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "c")
                        .put("sizeBytes", 1L << 40).put("provisioning", "thick")), 507, "insufficient_space"),
                new Case("unknown field", op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "d")
                        .put("sizeBytes", 1L << 20).put("colour", "red")), 400, "invalid_request"),
                new Case("missing field", op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "d")),
                        400, "invalid_request"),
                new Case("unknown host", op("registerHost", admin, new JsonObject().put("name", "h").put("nqn", "not-an-nqn")), 400,
                        "invalid_request"),
                new Case("malformed JSON", send("POST", "/api/vvols", admin, "application/json", "{\"name\": "), 400, "malformed_json"),
                new Case("wrong content type", send("POST", "/api/vvols", admin, "text/plain", "name=a"), 415, "unsupported_media_type"),
                new Case("oversized body", send("POST", "/api/profiles", admin, "application/json", big), 413, "body_too_large"),
                new Case("no session", send("GET", "/api/vvols", null, null, null), 401, "unauthenticated"),
                new Case("bad token", send("GET", "/api/vvols", "forged", null, null), 401, "unauthenticated"),
                new Case("wrong password", send("POST", "/api/session", null, "application/json",
                        "{\"username\":\"admin\",\"password\":\"guess\"}"), 401, "bad_credentials"),
                new Case("unknown path", send("GET", "/api/nothing", admin, null, null), 404, "no_such_operation"),
        };
        for (Case c : cases) {
            assertEquals(c.status(), c.answer().status(), c.what() + ": " + c.answer().body());
            assertEquals(c.code(), c.answer().code(), c.what() + ": " + c.answer().body());
            String message = c.answer().json().getJsonObject("error").getString("message");
            assertTrue(message != null && message.length() > 10 && !message.contains("Exception"), c.what() + ": " + message);
        }
    }

    @Test
    void aViewerSeesEverythingAndChangesNothing() throws Exception {
        start();
        String admin = login("admin", adminPassword);
        op("createUser", admin, new JsonObject().put("username", "vic").put("password", "viewer-pass-12").put("role", "viewer"));
        op("createUser", admin, new JsonObject().put("username", "olga").put("password", "operator-pass-1").put("role", "operator"));
        String viewer = login("vic", "viewer-pass-12");
        String operator = login("olga", "operator-pass-1");
        assertEquals(200, op("queryVirtualVolume", viewer, null).status());
        assertEquals(200, op("queryStorageContainer", viewer, null).status());
        Answer create = op("createVirtualVolume", viewer, new JsonObject().put("container", "pool").put("name", "x").put("sizeBytes", 1L << 20));
        assertEquals(403, create.status());
        assertEquals("forbidden", create.code());
        assertEquals(403, op("registerHost", viewer, new JsonObject().put("name", "h").put("nqn", HOST_NQN)).status());
        assertEquals(403, op("createUser", operator, new JsonObject().put("username", "eve").put("password", "whatever-pass-1")
                .put("role", "admin")).status(), "an operator cannot make users");
        assertEquals(403, op("changePassword", viewer, new JsonObject().put("password", "another-pass-12"), "admin").status());
        assertEquals(204, op("changePassword", viewer, new JsonObject().put("password", "another-pass-12"), "vic").status());
        assertTrue(op("queryVirtualVolume", viewer, null).array().isEmpty(), "nothing was created");
    }

    @Test
    void controlStateAndBindingsSurviveARestart() throws Exception {
        start();
        String admin = login("admin", adminPassword);
        String profile = op("createCapabilityProfile", admin, new JsonObject().put("name", "silver").put("iopsLimit", 1000)).json().getString("id");
        String id = op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "db").put("sizeBytes", 8L << 20)
                .put("profileId", profile)).json().getString("id");
        op("registerHost", admin, new JsonObject().put("name", "esx-01").put("nqn", HOST_NQN));
        int nsid = op("bindVirtualVolume", admin, new JsonObject().put("hostId", "esx-01"), id).json().getInteger("nsid");
        appliance.close();
        appliance = null;
        start();
        assertEquals(null, adminPassword, "the admin password is shown only on the first start");
        assertTrue(Files.readString(dir.resolve("var/control/state.json")).contains("esx-01"));
        assertFalse(Files.readString(dir.resolve("var/control/state.json")).contains("operator-pass"), "no password in clear");
        Answer wrong = send("POST", "/api/session", null, "application/json", "{\"username\":\"admin\",\"password\":\"x\"}");
        assertEquals(401, wrong.status());
        JsonObject users = new JsonObject(Files.readString(dir.resolve("var/control/state.json"))).getJsonObject("users");
        assertTrue(users.getJsonObject("admin").getString("hash").length() > 20);
        try (NvmeTcpHost esx = NvmeTcpHost.connect("127.0.0.1", ioPort(), "nqn.2026-11.io.vvolgate:pool", HOST_NQN, 1, 32, false)) {
            assertArrayEquals(new int[] {nsid}, activeNamespaces(esx), "the binding is restored before hosts connect");
        }
    }

    @Test
    void theProfilesIopsLimitHoldsInTheDataPath() throws Exception {
        start();
        String admin = login("admin", adminPassword);
        String limited = op("createCapabilityProfile", admin, new JsonObject().put("name", "bronze").put("iopsLimit", 200)).json().getString("id");
        String id = op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "slow").put("sizeBytes", 8L << 20)
                .put("profileId", limited)).json().getString("id");
        op("registerHost", admin, new JsonObject().put("name", "esx-01").put("nqn", HOST_NQN));
        int nsid = op("bindVirtualVolume", admin, new JsonObject().put("hostId", "esx-01"), id).json().getInteger("nsid");
        try (NvmeTcpHost esx = NvmeTcpHost.connect("127.0.0.1", ioPort(), "nqn.2026-11.io.vvolgate:pool", HOST_NQN, 1, 32, false)) {
            long start = System.nanoTime();
            for (int i = 0; i < 300; i++) {
                assertTrue(esx.write(0, nsid, i * 8L, new byte[4096], 512).ok());
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            // 200 IOPS with a 100 ms burst (20 commands): 300 commands need at least 1.4 s, however fast the machine.
            assertTrue(seconds >= 1.35, "300 writes at a 200 IOPS limit took only " + seconds + " s");
        }
        String text = send("GET", "/metrics", null, null, null).body();
        assertTrue(Pattern.compile("vvolgate_volume_qos_throttled_total\\{container=\"pool\",volume=\"" + id + "\"} [1-9]").matcher(text).find(),
                "the metrics show commands held back: " + text);
        assertTrue(text.contains("vvolgate_volume_qos_iops_limit{container=\"pool\",volume=\"" + id + "\"} 200"), text);
        assertTrue(op("queryComplianceResult", admin, null, id).json().getBoolean("compliant"));
    }

    @Test
    void metricsAreServedInThePrometheusFormat() throws Exception {
        start();
        String admin = login("admin", adminPassword);
        String id = op("createVirtualVolume", admin, new JsonObject().put("container", "pool").put("name", "m").put("sizeBytes", 8L << 20))
                .json().getString("id");
        op("registerHost", admin, new JsonObject().put("name", "esx-01").put("nqn", HOST_NQN));
        int nsid = op("bindVirtualVolume", admin, new JsonObject().put("hostId", "esx-01"), id).json().getInteger("nsid");
        try (NvmeTcpHost esx = NvmeTcpHost.connect("127.0.0.1", ioPort(), "nqn.2026-11.io.vvolgate:pool", HOST_NQN, 1, 32, false)) {
            for (int i = 0; i < 10; i++) {
                assertTrue(esx.write(0, nsid, i * 8L, new byte[4096], 512).ok());
            }
        }
        Answer metrics = send("GET", "/metrics", null, null, null);
        assertEquals(200, metrics.status());
        String text = metrics.body();
        assertTrue(text.contains("vvolgate_container_capacity_bytes{container=\"pool\"}"), text);
        assertTrue(Pattern.compile("vvolgate_volume_write_commands_total\\{container=\"pool\",volume=\"" + id + "\"} 10").matcher(text).find(), text);
        assertTrue(text.contains("vvolgate_api_request_duration_seconds_bucket{"), "control-plane latencies");
        assertTrue(text.contains("vvolgate_host_controllers{host=\"esx-01\""), text);
        assertTrue(text.contains("vvolgate_volume_latency_seconds_bucket{container=\"pool\",direction=\"write\",volume=\"" + id + "\""), text);
        Path promtool = Path.of("/usr/bin/promtool");
        if (Files.isExecutable(promtool)) {
            Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
            p.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), "promtool check metrics: " + said);
        } else {
            assertFalse("true".equals(System.getenv("CI")), "promtool (Debian package prometheus) is installed by the rig setup in CI");
        }
        Answer doc = send("GET", "/api/openapi.yaml", null, null, null);
        assertEquals(200, doc.status());
        assertTrue(doc.body().startsWith("openapi: 3"));
    }
}
