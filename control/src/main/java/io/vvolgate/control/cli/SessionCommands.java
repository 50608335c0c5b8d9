package io.vvolgate.control.cli;

import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** Logging in and out, and who the session belongs to. */
final class SessionCommands {
    private SessionCommands() {
    }

    @Command(name = "login", description = "Log in to an appliance and keep the session for the next commands [login]."
            + " The password is asked without echo, or read from stdin (--password-stdin) or $VVOLGATE_PASSWORD.")
    static final class Login extends CtlCommand {
        @Option(names = "--url", paramLabel = "URL", description = "the appliance's API (default $VVOLGATE_URL, else the URL"
                + " logged in to last, else " + Ctl.DEFAULT_URL + ")")
        String url;

        @Option(names = {"--user", "-u"}, paramLabel = "USER", description = "default $VVOLGATE_USER, else admin")
        String user;

        @Option(names = "--password-stdin", description = "read the password from the first line of stdin")
        boolean passwordStdin;

        @Option(names = "--ca", paramLabel = "FILE", description = "for https: trust the certificate(s) in this PEM file, e.g. a copy"
                + " of the appliance's state_dir/control/tls/cert.pem (trusted as itself, whatever name or address you reach it by)")
        Path ca;

        @Option(names = "--insecure", description = "for https: trust any certificate (only to look; a man in the middle gets the password)")
        boolean insecure;

        @Override
        void execute() {
            Ctl ctl = ctl();
            StoredLogin before = StoredLogin.load(ctl.configPath());
            String target = url != null ? url : ctl.env.get("VVOLGATE_URL") != null ? ctl.env.get("VVOLGATE_URL")
                    : before != null && before.url() != null ? before.url() : Ctl.DEFAULT_URL;
            String username = user != null ? user : ctl.env.getOrDefault("VVOLGATE_USER", "admin");
            String caFile = null;
            if (ca != null) {
                if (!Files.isReadable(ca)) {
                    throw CtlException.usage("--ca " + ca + ": no such readable file");
                }
                caFile = ca.toAbsolutePath().toString();
            }
            ApiClient api = ctl.anonymous(target, caFile, insecure);
            String password = ctl.password(passwordStdin, true, "Password for " + username + " at " + api.url() + ": ", false);
            JsonObject session = (JsonObject) api.send("POST", "/api/session",
                    new JsonObject().put("username", username).put("password", password));
            new StoredLogin(api.url(), session.getString("username"), session.getString("token"), caFile, insecure)
                    .save(ctl.configPath());
            session.remove("token");
            if (json()) {
                ctl.printJson(session);
            } else {
                out().println("logged in to " + api.url() + " as " + session.getString("username") + " (" + session.getString("role")
                        + "); the session ends " + Human.time(session.getString("expiresAt")));
            }
        }
    }

    @Command(name = "logout", description = "End the session; its token stops working [logout].")
    static final class Logout extends CtlCommand {
        @Override
        void execute() {
            Ctl ctl = ctl();
            StoredLogin login = StoredLogin.load(ctl.configPath());
            if (login == null || login.token() == null) {
                out().println("not logged in");
                return;
            }
            try {
                api().send("DELETE", "/api/session", null);
            } catch (CtlException e) {
                // Ended already, or the appliance is gone: either way the token is forgotten here.
                if (e.exitCode() != CtlException.EXIT_LOGIN) {
                    ctl.err.println(Ctl.PREFIX + "the appliance was not told (" + e.getMessage() + "); the token is forgotten here");
                }
            }
            login.withoutToken().save(ctl.configPath());
            out().println("logged out of " + login.url());
        }
    }

    @Command(name = "session", description = "Who you are logged in as, where, and until when [querySession].")
    static final class Session extends CtlCommand {
        @Override
        void execute() {
            JsonObject s = api().getObject("/api/session");
            if (json()) {
                ctl().printJson(s);
                return;
            }
            new Fields()
                    .add("Appliance", api().url())
                    .add("User", s.getString("username"))
                    .add("Role", s.getString("role"))
                    .add("Expires", Human.time(s.getString("expiresAt")))
                    .print(out());
        }
    }
}
