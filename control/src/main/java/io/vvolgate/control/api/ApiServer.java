package io.vvolgate.control.api;

import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.StaticHandler;
import io.vertx.ext.web.openapi.router.OpenAPIRoute;
import io.vertx.ext.web.openapi.router.RequestExtractor;
import io.vertx.ext.web.openapi.router.RouterBuilder;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.validation.ValidatorException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The REST API (and the web console's files, and {@code /metrics}) on Vert.x. Routes come from the OpenAPI
 * document itself ({@link RouterBuilder}): each operationId gets its handler here, and the document's
 * schemas validate every request before it reaches one, so the served API cannot drift from the document
 * (start fails if an operation has no handler). Handlers run on worker threads (operations touch disks);
 * the event loop only parses and answers.
 *
 * <p>Errors are {@code {"error": {"code", "message", "field"}}}: 400 for malformed JSON and invalid values,
 * 401 without a valid session, 403 when the role does not allow the operation, 404 for unknown IDs, 409
 * for conflicts with the state, 413 for a body over {@link #MAX_BODY} bytes, 415 for a body that is not
 * JSON, 507 for a container without the space.
 */
public final class ApiServer implements AutoCloseable {
    public static final String CONTRACT = "io/vvolgate/control/api/openapi.yaml";
    static final long MAX_BODY = 1 << 20;
    private static final System.Logger LOG = System.getLogger("vvolgate.api");

    /** One operation: who may run it, its success status, and what it does. */
    private record Op(Accounts.Role role, int status, Handler handler) {
    }

    @FunctionalInterface
    interface Handler {
        Object handle(RoutingContext ctx, Accounts.Session session);
    }

    private final Vertx vertx;
    private final HttpServer server;
    private final int port;
    private final String url;

    private ApiServer(Vertx vertx, HttpServer server, String url) {
        this.vertx = vertx;
        this.server = server;
        this.port = server.actualPort();
        this.url = url;
    }

    public int port() {
        return port;
    }

    /** Written by the build (filtered): why the console was left out, when it was. */
    static final String CONSOLE_PROPERTIES = "io/vvolgate/control/console.properties";

    /**
     * The page served at {@code /} when this build has no console. A bare 404 would leave the operator
     * guessing whether the address is wrong; this says that the appliance is fine, why the console is
     * missing (the build records it, e.g. Node.js was too old) and what still works.
     */
    static String consoleNotBuiltPage() {
        String reason = "it was left out of this build";
        try (InputStream in = ApiServer.class.getClassLoader().getResourceAsStream(CONSOLE_PROPERTIES)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
                String r = p.getProperty("skipReason", "").strip();
                if (!r.isEmpty() && !r.startsWith("$")) {
                    reason = r;
                }
            }
        } catch (IOException e) {
            // keep the generic reason
        }
        return "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>vvolgate: console not built</title></head>\n"
                + "<body><h1>The web console is not built into this appliance</h1>\n<p>Why: " + escapeHtml(reason) + ".</p>\n"
                + "<p>The appliance runs normally: NVMe/TCP, the REST API (<a href=\"/api/openapi.yaml\">/api/openapi.yaml</a>)"
                + " and <a href=\"/metrics\">/metrics</a> work. To get the console, build with Node.js 20.19 or newer and npm"
                + " on the PATH (see the README's Set up section).</p>\n</body></html>\n";
    }

    private static String escapeHtml(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    /** Where the API listens, e.g. {@code http://127.0.0.1:8080}. */
    public String url() {
        return url;
    }

    /**
     * Starts the server. {@code tls} is null for plain HTTP (loopback only: the caller enforces it).
     */
    public static ApiServer start(VasaService service, AuditLog audit, PrometheusRegistry registry, String address, int port,
                                  PemKeyCertOptions tls) throws IOException {
        Vertx vertx = Vertx.vertx(new VertxOptions().setWorkerPoolSize(4));
        try {
            OpenAPIContract contract = await(OpenAPIContract.from(vertx, CONTRACT));
            RouterBuilder builder = RouterBuilder.create(vertx, contract, RequestExtractor.withBodyHandler());
            Histogram latency = Histogram.builder().name("vvolgate_api_request_duration_seconds")
                    .help("Control-plane API operations: how long they took, by operation and outcome")
                    .labelNames("operation", "outcome").register(registry);
            builder.rootHandler(BodyHandler.create(false).setBodyLimit(MAX_BODY));
            builder.rootHandler(ApiServer::checkContentType);
            Map<String, Op> ops = operations(service, audit);
            Set<String> missing = new HashSet<>();
            for (OpenAPIRoute route : builder.getRoutes()) {
                String id = route.getOperation().getOperationId();
                Op op = ops.get(id);
                if (op == null) {
                    missing.add(id);
                    continue;
                }
                route.setDoSecurity(false);
                route.addHandler(ctx -> run(ctx, id, op, service, audit, latency));
                route.addFailureHandler(ApiServer::fail);
            }
            if (!missing.isEmpty()) {
                throw new IllegalStateException("the OpenAPI document has operations without a handler: " + missing);
            }
            Router router = builder.createRouter();
            router.get("/api/openapi.yaml").handler(ctx -> ctx.response().putHeader("content-type", "application/yaml")
                    .end(contractText()));
            router.get("/metrics").handler(ctx -> ctx.vertx().executeBlocking(() -> {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                PrometheusTextFormatWriter.create().write(out, registry.scrape());
                return out.toString(StandardCharsets.UTF_8);
            }).onSuccess(text -> ctx.response().putHeader("content-type", PrometheusTextFormatWriter.CONTENT_TYPE).end(text))
                    .onFailure(ctx::fail));
            router.route("/api/*").handler(ctx -> error(ctx, new ApiError(404, "no_such_operation",
                    "there is no operation " + ctx.request().method() + " " + ctx.request().path() + " (see /api/openapi.yaml)")));
            router.route("/api/*").failureHandler(ApiServer::fail);
            // The console: hashed assets may be cached for good; the page itself never (after an upgrade it
            // names new assets), and every other GET or HEAD is the page (client-side routes).
            router.route("/assets/*").handler(StaticHandler.create("io/vvolgate/control/console").setCachingEnabled(true)
                    .setMaxAgeSeconds(365L * 24 * 3600));
            router.route("/*").method(HttpMethod.GET).method(HttpMethod.HEAD).handler(ctx -> {
                String path = ctx.normalizedPath();
                boolean file = !path.equals("/") && path.lastIndexOf('.') > path.lastIndexOf('/');
                ctx.response().putHeader("cache-control", "no-cache");
                if (file) {
                    ctx.next();
                    return;
                }
                ctx.response().putHeader("content-type", "text/html; charset=utf-8")
                        .sendFile("io/vvolgate/control/console/index.html").onFailure(e -> {
                            if (!ctx.response().ended()) {
                                ctx.response().end(consoleNotBuiltPage());
                            }
                        });
            });
            router.route("/*").handler(StaticHandler.create("io/vvolgate/control/console").setCachingEnabled(false));
            HttpServerOptions options = new HttpServerOptions().setHost(address).setPort(port).setCompressionSupported(true);
            if (tls != null) {
                options.setSsl(true).setKeyCertOptions(tls);
            }
            HttpServer server = await(vertx.createHttpServer(options).requestHandler(router).listen());
            String host = address.contains(":") ? "[" + address + "]" : address;
            return new ApiServer(vertx, server, (tls != null ? "https://" : "http://") + host + ":" + server.actualPort());
        } catch (RuntimeException | IOException e) {
            vertx.close();
            throw e;
        }
    }

    private static String contractText() {
        try (InputStream in = ApiServer.class.getClassLoader().getResourceAsStream(CONTRACT)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static <T> T await(Future<T> f) throws IOException {
        try {
            return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IOException(cause.getMessage(), cause);
        }
    }

    /** A body must be JSON; anything else is 415 before validation says something vaguer. */
    private static void checkContentType(RoutingContext ctx) {
        HttpMethod m = ctx.request().method();
        boolean hasBody = ctx.body() != null && ctx.body().length() > 0;
        if ((m == HttpMethod.POST || m == HttpMethod.PUT || m == HttpMethod.PATCH) && hasBody) {
            String type = ctx.request().getHeader("content-type");
            if (type == null || !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
                error(ctx, new ApiError(415, "unsupported_media_type", "the request body must be JSON (Content-Type: application/json), not "
                        + (type == null ? "untyped" : type)));
                return;
            }
            try {
                ctx.body().asJsonObject();
            } catch (DecodeException | ClassCastException e) {
                error(ctx, new ApiError(400, "malformed_json", "the request body is not a JSON object: " + firstLine(e.getMessage())));
                return;
            }
        }
        ctx.next();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private static void run(RoutingContext ctx, String id, Op op, VasaService service, AuditLog audit, Histogram latency) {
        Accounts.Session session = null;
        if (op.role() != null) {
            String header = ctx.request().getHeader("authorization");
            String token = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : null;
            session = service.accounts().session(token);
            if (session == null) {
                error(ctx, new ApiError(401, "unauthenticated", token == null ? "log in first: this operation needs a session"
                        : "the session has ended or the token is not valid; log in again"));
                return;
            }
            if (!session.role().atLeast(op.role())) {
                error(ctx, new ApiError(403, "forbidden", "user \"" + session.username() + "\" is " + session.role().wire()
                        + "; " + id + " needs the " + op.role().wire() + " role"));
                return;
            }
        }
        Accounts.Session who = session;
        boolean change = ctx.request().method() != HttpMethod.GET && !id.equals("login") && !id.equals("logout");
        long start = System.nanoTime();
        ctx.vertx().executeBlocking(() -> {
            try {
                Object result = op.handler().handle(ctx, who);
                if (change) {
                    audit.record(who.username(), id, target(ctx), "ok", null);
                    service.monitor().event("info", id, objectId(ctx, result), who.username() + " ran " + id
                            + (ctx.pathParams().isEmpty() ? "" : " on " + ctx.pathParams().values().iterator().next()));
                }
                return result;
            } catch (ApiError e) {
                if (change && who != null) {
                    audit.record(who.username(), id, target(ctx), e.code(), e.getMessage());
                }
                throw e;
            }
        }, false).onComplete(ar -> {
            String outcome = ar.succeeded() ? "ok" : ar.cause() instanceof ApiError a ? a.code() : "internal_error";
            latency.labelValues(id, outcome).observe((System.nanoTime() - start) / 1e9);
            if (ar.failed()) {
                error(ctx, ar.cause());
                return;
            }
            Object result = ar.result();
            if (result == null) {
                ctx.response().setStatusCode(204).end();
            } else {
                String body = result instanceof JsonObject o ? o.encode() : ((JsonArray) result).encode();
                ctx.response().setStatusCode(op.status()).putHeader("content-type", "application/json").end(body);
            }
        });
    }

    /** The object an event is about: the path's ID, else the ID of what was made. */
    private static String objectId(RoutingContext ctx, Object result) {
        if (!ctx.pathParams().isEmpty()) {
            return ctx.pathParams().values().iterator().next();
        }
        return result instanceof JsonObject o ? o.getString("id") : null;
    }

    /** What an operation acted on, for the audit log: its path parameters. */
    private static String target(RoutingContext ctx) {
        return ctx.pathParams().isEmpty() ? null : new JsonObject(new HashMap<>(ctx.pathParams())).encode();
    }

    private static void fail(RoutingContext ctx) {
        Throwable f = ctx.failure();
        if (f instanceof io.vertx.ext.web.handler.HttpException h && h.getCause() != null) {
            f = h.getCause();
        }
        if (ctx.statusCode() == 413) {
            error(ctx, new ApiError(413, "body_too_large", "the request body is larger than " + MAX_BODY + " bytes"));
        } else if (f instanceof ValidatorException v) {
            error(ctx, new ApiError(400, "invalid_request", validationMessage(v), validationField(v)));
        } else if (f != null) {
            error(ctx, f);
        } else {
            error(ctx, new ApiError(ctx.statusCode() > 0 ? ctx.statusCode() : 500, "http_" + ctx.statusCode(),
                    "the request could not be served (HTTP " + ctx.statusCode() + ")"));
        }
    }

    /** The request field a schema error is about ({@code #/sizeBytes} → sizeBytes), or null. */
    private static String validationField(ValidatorException v) {
        if (v instanceof io.vertx.openapi.validation.SchemaValidationException s && s.getOutputUnit() != null
                && s.getOutputUnit().getErrors() != null && !s.getOutputUnit().getErrors().isEmpty()) {
            String at = s.getOutputUnit().getErrors().getFirst().getInstanceLocation();
            if (at != null && at.startsWith("#/") && at.length() > 2) {
                return at.substring(2).split("/")[0];
            }
        }
        return null;
    }

    private static String validationMessage(ValidatorException v) {
        String m = v.getMessage() == null ? "the request does not match the API document" : v.getMessage();
        if (v instanceof io.vertx.openapi.validation.SchemaValidationException s && s.getOutputUnit() != null) {
            var errors = s.getOutputUnit().getErrors();
            if (errors != null && !errors.isEmpty()) {
                var e = errors.getFirst();
                String where = e.getInstanceLocation() == null || e.getInstanceLocation().isEmpty() ? "" : " (at " + e.getInstanceLocation() + ")";
                return "the request does not match the API document: " + e.getError() + where;
            }
        }
        return m;
    }

    static void error(RoutingContext ctx, Throwable t) {
        if (ctx.response().ended()) {
            return;
        }
        ApiError e;
        if (t instanceof ApiError a) {
            e = a;
        } else {
            LOG.log(System.Logger.Level.ERROR, "API request " + ctx.request().method() + " " + ctx.request().path() + " failed", t);
            e = new ApiError(500, "internal_error", "the appliance failed to serve the request: " + t);
        }
        JsonObject err = new JsonObject().put("code", e.code()).put("message", e.getMessage());
        if (e.field() != null) {
            err.put("field", e.field());
        }
        ctx.response().setStatusCode(e.status()).putHeader("content-type", "application/json")
                .end(new JsonObject().put("error", err).encode());
    }

    // ---------------------------------------------------------------------------------------------------

    private static String path(RoutingContext ctx, String name) {
        return ctx.pathParam(name);
    }

    private static JsonObject body(RoutingContext ctx) {
        return ctx.body() == null || ctx.body().length() == 0 ? new JsonObject() : ctx.body().asJsonObject();
    }

    private static String query(RoutingContext ctx, String name) {
        return ctx.queryParams().get(name);
    }

    private static Boolean queryBool(RoutingContext ctx, String name) {
        String v = query(ctx, name);
        return v == null ? null : Boolean.parseBoolean(v);
    }

    private static Long queryLong(RoutingContext ctx, String name) {
        String v = query(ctx, name);
        return v == null ? null : Long.parseLong(v);
    }

    private static Map<String, Op> operations(VasaService s, AuditLog audit) {
        Accounts.Role viewer = Accounts.Role.VIEWER;
        Accounts.Role operator = Accounts.Role.OPERATOR;
        Accounts.Role admin = Accounts.Role.ADMIN;
        Map<String, Op> ops = new HashMap<>();
        ops.put("login", new Op(null, 200, (ctx, who) -> {
            JsonObject b = body(ctx);
            Accounts.Session session = s.accounts().login(b.getString("username"), b.getString("password"));
            audit.record(session.username(), "login", null, "ok", null);
            return sessionJson(session).put("token", session.token());
        }));
        ops.put("querySession", new Op(viewer, 200, (ctx, who) -> sessionJson(who)));
        ops.put("logout", new Op(viewer, 204, (ctx, who) -> {
            s.accounts().logout(who.token());
            audit.record(who.username(), "logout", null, "ok", null);
            return null;
        }));
        ops.put("queryUsers", new Op(admin, 200, (ctx, who) -> s.accounts().list()));
        ops.put("createUser", new Op(admin, 201, (ctx, who) -> {
            JsonObject b = body(ctx);
            s.accounts().create(b.getString("username"), b.getString("password"), Accounts.Role.of(b.getString("role")));
            s.save();
            return s.accounts().list().stream().map(JsonObject.class::cast)
                    .filter(u -> u.getString("username").equals(b.getString("username"))).findFirst().orElseThrow();
        }));
        ops.put("deleteUser", new Op(admin, 204, (ctx, who) -> {
            if (path(ctx, "userName").equals(who.username())) {
                throw ApiError.conflict("self_delete", "you cannot delete your own account while logged in with it");
            }
            s.accounts().delete(path(ctx, "userName"));
            s.save();
            return null;
        }));
        ops.put("changePassword", new Op(viewer, 204, (ctx, who) -> {
            String user = path(ctx, "userName");
            if (!user.equals(who.username()) && who.role() != Accounts.Role.ADMIN) {
                throw new ApiError(403, "forbidden", "only an admin can set another user's password");
            }
            s.accounts().setPassword(user, body(ctx).getString("password"), who.token());
            s.save();
            return null;
        }));
        ops.put("queryStorageContainer", new Op(viewer, 200, (ctx, who) -> s.queryStorageContainer()));
        ops.put("spaceStatsForStorageContainer", new Op(viewer, 200, (ctx, who) -> s.spaceStatsForStorageContainer(path(ctx, "containerId"))));
        ops.put("queryCapabilityProfile", new Op(viewer, 200, (ctx, who) -> s.queryCapabilityProfile()));
        ops.put("createCapabilityProfile", new Op(operator, 201, (ctx, who) -> s.createCapabilityProfile(body(ctx))));
        ops.put("deleteCapabilityProfile", new Op(operator, 204, (ctx, who) -> {
            s.deleteCapabilityProfile(path(ctx, "profileId"));
            return null;
        }));
        ops.put("queryVirtualVolume", new Op(viewer, 200, (ctx, who) -> s.queryVirtualVolume(query(ctx, "container"), query(ctx, "type"),
                query(ctx, "profile"), query(ctx, "host"), queryBool(ctx, "bound"), queryBool(ctx, "snapshots"), query(ctx, "q"))));
        ops.put("createVirtualVolume", new Op(operator, 201, (ctx, who) -> s.createVirtualVolume(body(ctx))));
        ops.put("queryVirtualVolumeInfo", new Op(viewer, 200, (ctx, who) -> s.queryVirtualVolumeInfo(path(ctx, "vvolId"))));
        ops.put("deleteVirtualVolume", new Op(operator, 202, (ctx, who) -> s.deleteVirtualVolume(path(ctx, "vvolId"))));
        ops.put("resizeVirtualVolume", new Op(operator, 200, (ctx, who) ->
                s.resizeVirtualVolume(path(ctx, "vvolId"), body(ctx).getLong("sizeBytes"))));
        ops.put("prepareToSnapshotVirtualVolume", new Op(operator, 200, (ctx, who) -> s.prepareToSnapshotVirtualVolume(path(ctx, "vvolId"))));
        ops.put("snapshotVirtualVolume", new Op(operator, 201, (ctx, who) -> s.snapshotVirtualVolume(path(ctx, "vvolId"), body(ctx))));
        ops.put("fastCloneVirtualVolume", new Op(operator, 201, (ctx, who) -> s.fastCloneVirtualVolume(path(ctx, "vvolId"), body(ctx))));
        ops.put("cloneVirtualVolume", new Op(operator, 202, (ctx, who) -> s.cloneVirtualVolume(path(ctx, "vvolId"), body(ctx))));
        ops.put("revertVirtualVolume", new Op(operator, 200, (ctx, who) ->
                s.revertVirtualVolume(path(ctx, "vvolId"), body(ctx).getString("snapshotId"))));
        ops.put("queryVirtualVolumeMetaData", new Op(viewer, 200, (ctx, who) -> s.queryVirtualVolumeMetaData(path(ctx, "vvolId"))));
        ops.put("updateVirtualVolumeMetaData", new Op(operator, 200, (ctx, who) ->
                s.updateVirtualVolumeMetaData(path(ctx, "vvolId"), body(ctx))));
        ops.put("allocatedBitmapVirtualVolume", new Op(viewer, 200, (ctx, who) ->
                s.allocatedBitmapVirtualVolume(path(ctx, "vvolId"), queryLong(ctx, "offset"), queryLong(ctx, "length"))));
        ops.put("unsharedBitmapVirtualVolume", new Op(viewer, 200, (ctx, who) -> s.unsharedBitmapVirtualVolume(path(ctx, "vvolId"),
                query(ctx, "baseVvolId"), queryLong(ctx, "offset"), queryLong(ctx, "length"))));
        ops.put("bindVirtualVolume", new Op(operator, 200, (ctx, who) -> s.bindVirtualVolume(path(ctx, "vvolId"), body(ctx).getString("hostId"))));
        ops.put("unbindVirtualVolume", new Op(operator, 204, (ctx, who) -> {
            s.unbindVirtualVolume(path(ctx, "vvolId"), body(ctx).getString("hostId"));
            return null;
        }));
        ops.put("unbindVirtualVolumeFromAllHost", new Op(operator, 204, (ctx, who) -> {
            s.unbindVirtualVolumeFromAllHost(path(ctx, "vvolId"));
            return null;
        }));
        ops.put("updateStorageProfileForVirtualVolume", new Op(operator, 200, (ctx, who) ->
                s.updateStorageProfileForVirtualVolume(path(ctx, "vvolId"), body(ctx).getString("profileId"))));
        ops.put("queryComplianceResult", new Op(viewer, 200, (ctx, who) -> s.queryComplianceResult(path(ctx, "vvolId"))));
        ops.put("queryHosts", new Op(viewer, 200, (ctx, who) -> s.queryHosts()));
        ops.put("registerHost", new Op(operator, 201, (ctx, who) -> s.registerHost(body(ctx))));
        ops.put("queryHostInfo", new Op(viewer, 200, (ctx, who) -> s.queryHostInfo(path(ctx, "hostId"))));
        ops.put("unregisterHost", new Op(operator, 204, (ctx, who) -> {
            s.unregisterHost(path(ctx, "hostId"));
            return null;
        }));
        ops.put("queryProtocolEndpoint", new Op(viewer, 200, (ctx, who) -> s.queryProtocolEndpoint()));
        ops.put("queryDevices", new Op(viewer, 200, (ctx, who) -> s.queryDevices()));
        ops.put("queryTasks", new Op(viewer, 200, (ctx, who) -> s.queryTasks()));
        ops.put("getTaskUpdate", new Op(viewer, 200, (ctx, who) -> s.getTaskUpdate(path(ctx, "taskId"))));
        ops.put("getEvents", new Op(viewer, 200, (ctx, who) -> s.getEvents(queryLong(ctx, "since") == null ? 0 : queryLong(ctx, "since"),
                queryLong(ctx, "limit") == null ? 1000 : queryLong(ctx, "limit").intValue())));
        ops.put("getAlarms", new Op(viewer, 200, (ctx, who) -> s.getAlarms(queryBool(ctx, "active"))));
        ops.put("acknowledgeAlarm", new Op(operator, 200, (ctx, who) -> s.acknowledgeAlarm(path(ctx, "alarmId"))));
        ops.put("getAuditLog", new Op(viewer, 200, (ctx, who) -> audit.newest(queryLong(ctx, "limit") == null ? 1000
                : queryLong(ctx, "limit").intValue())));
        ops.put("queryPerformance", new Op(viewer, 200, (ctx, who) -> s.queryPerformance()));
        return ops;
    }

    private static JsonObject sessionJson(Accounts.Session s) {
        return new JsonObject().put("username", s.username()).put("role", s.role().wire()).put("expiresAt", s.expiresAt().toString());
    }

    @Override
    public void close() {
        try {
            await(server.close());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "API server did not close cleanly: " + e.getMessage());
        }
        try {
            await(vertx.close());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "Vert.x did not close cleanly: " + e.getMessage());
        }
    }

}
