package io.vvolgate.control.api;

import io.vertx.core.json.JsonObject;
import io.vvolgate.gateway.Gateway;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The control plane's files in {@code state_dir/control/}: the state document ({@link StateFile}) and the
 * audit log ({@link AuditLog}). Opened before the gateway starts (the bindings and hosts it holds are
 * restored into the gateway), then handed to the {@link VasaService}.
 */
public final class ControlState implements AutoCloseable {
    private final StateFile file;
    private final JsonObject document;
    private final AuditLog audit;
    private VasaService service;

    private ControlState(StateFile file, JsonObject document, AuditLog audit) {
        this.file = file;
        this.document = document;
        this.audit = audit;
    }

    public static ControlState open(Path dir) throws IOException {
        StateFile file = new StateFile(dir);
        return new ControlState(file, file.load(), new AuditLog(dir));
    }

    /** The stored document (read-only use before {@link #service}). */
    public JsonObject document() {
        return document;
    }

    public VasaService service(Gateway gateway, List<VasaService.ContainerPolicy> policies, Set<String> configuredHosts) {
        service = new VasaService(gateway, file, document, policies, configuredHosts);
        return service;
    }

    /**
     * Makes sure an admin account exists: on first start it is created with {@code password} (the
     * environment's), or with a random one that is returned to be shown once. Returns null otherwise.
     */
    public String ensureAdmin(String password) {
        Accounts accounts = service.accounts();
        if (!accounts.isEmpty()) {
            return null;
        }
        String chosen = password == null || password.isEmpty() ? Accounts.randomPassword() : password;
        accounts.create("admin", chosen, Accounts.Role.ADMIN);
        service.save();
        audit.record("system", "createUser", "{\"userName\":\"admin\"}", "ok", "first start");
        return password == null || password.isEmpty() ? chosen : null;
    }

    public AuditLog audit() {
        return audit;
    }

    @Override
    public void close() {
        try {
            audit.close();
        } catch (IOException e) {
            // Every entry was synced when written.
        }
    }
}
