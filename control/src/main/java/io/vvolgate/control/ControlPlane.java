package io.vvolgate.control;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vvolgate.control.api.ApiServer;
import io.vvolgate.control.api.ControlState;
import io.vvolgate.control.api.Metrics;
import io.vvolgate.control.api.SelfSignedCertificate;
import io.vvolgate.control.api.VasaService;
import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.gateway.Gateway;
import io.vvolgate.gateway.GatewaySpec;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The control plane of a running appliance: the VASA service over the gateway's admin API, its REST API
 * and console, {@code /metrics}, and the monitoring tick. Its durable state lives in
 * {@code state_dir/control/} ({@code state.json}, {@code audit.log}, {@code tls/}); see CONFIG.md.
 */
final class ControlPlane implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("vvolgate.control");

    /** What the control plane stored, read before the gateway starts (it restores hosts and bindings). */
    record Stored(ControlState state, List<String> registeredHosts, List<GatewaySpec.BindingSpec> bindings) {
    }

    private final VasaService service;
    private final ApiServer api;
    private final ControlState state;
    private final ScheduledExecutorService timer;

    private ControlPlane(VasaService service, ApiServer api, ControlState state, ScheduledExecutorService timer) {
        this.service = service;
        this.api = api;
        this.state = state;
        this.timer = timer;
    }

    static Stored load(Path stateDir) throws IOException {
        ControlState state = ControlState.open(stateDir.resolve("control"));
        JsonObject doc = state.document();
        return new Stored(state, VasaService.registeredHosts(doc), VasaService.bindingsToRestore(doc));
    }

    static ControlPlane start(ApplianceConfig config, Gateway gateway, Stored stored, PrintStream out, PrintStream err)
            throws IOException {
        ControlState state = stored.state();
        List<VasaService.ContainerPolicy> policies = config.containers().stream()
                .map(c -> new VasaService.ContainerPolicy(c.name(), c.qosIopsCapacity())).toList();
        Set<String> configuredHosts = new HashSet<>();
        config.subsystems().forEach(s -> configuredHosts.addAll(s.hosts()));
        VasaService service = state.service(gateway, policies, configuredHosts);
        String generated = state.ensureAdmin(System.getenv("VVOLGATE_ADMIN_PASSWORD"));
        service.applyAllQos();
        ApplianceConfig.Api a = config.api();
        PemKeyCertOptions tls = null;
        if (!a.loopback()) {
            Path cert = a.tlsCert();
            Path key = a.tlsKey();
            if (cert == null) {
                Path dir = config.stateDir().resolve("control").resolve("tls");
                cert = dir.resolve("cert.pem");
                key = dir.resolve("key.pem");
                if (SelfSignedCertificate.ensure(cert, key, a.address())) {
                    err.println("vvolgate: warning: the API listens on " + a.address() + ", not loopback: it is served over TLS with a"
                            + " self-signed certificate generated now (" + cert + "); configure tls_cert and tls_key in [api] for your own");
                }
            }
            tls = new PemKeyCertOptions().setCertPath(cert.toString()).setKeyPath(key.toString());
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        registry.register(new Metrics(gateway, service));
        ApiServer api;
        try {
            api = ApiServer.start(service, state.audit(), registry, a.address(), a.port(), tls);
        } catch (IOException | RuntimeException e) {
            service.close();
            throw e;
        }
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vvolgate-control-monitor");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleAtFixedRate(() -> {
            try {
                service.tick();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "monitoring tick failed: " + e);
            }
        }, 0, VasaService.SAMPLE_SECONDS, TimeUnit.SECONDS);
        ControlPlane plane = new ControlPlane(service, api, state, timer);
        plane.generatedPassword = generated;
        return plane;
    }

    private String generatedPassword;

    /** The admin password made on this first start (to be printed once), or null. */
    String generatedPassword() {
        return generatedPassword;
    }

    String url() {
        return api.url();
    }

    @Override
    public void close() {
        timer.shutdownNow();
        api.close();
        service.close();
        state.close();
    }
}
