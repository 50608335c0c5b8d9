package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** Operator accounts (admin only, except changing one's own password). */
@Command(name = "user", description = "Operator accounts: viewer reads, operator also changes storage and hosts, admin also manages users.",
        subcommands = {UserCommands.List.class, UserCommands.Create.class, UserCommands.Delete.class, UserCommands.Password.class})
final class UserCommands implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        CtlCommand.needSubcommand(spec);
    }

    enum Role { viewer, operator, admin }

    @Command(name = "list", aliases = "ls", description = "Operator accounts [queryUsers].")
    static final class List extends CtlCommand {
        @Override
        void execute() {
            JsonArray all = api().getArray("/api/users");
            if (json()) {
                ctl().printJson(all);
                return;
            }
            Table t = new Table().left("USER").left("ROLE").left("CREATED");
            for (JsonObject u : Names.objects(all)) {
                t.row(u.getString("username"), u.getString("role"), Human.time(u.getString("createdAt")));
            }
            t.print(out(), "no users");
        }
    }

    @Command(name = "create", description = "Create an operator account; the password (12 characters or more) is asked twice, or"
            + " read from stdin [createUser].")
    static final class Create extends CtlCommand {
        @Parameters(paramLabel = "USER", description = "lower case letters, digits, . _ -")
        String user;

        @Option(names = "--role", required = true, paramLabel = "ROLE", description = "viewer, operator or admin")
        Role role;

        @Option(names = "--password-stdin", description = "read the password from the first line of stdin")
        boolean passwordStdin;

        @Override
        void execute() {
            String password = ctl().password(passwordStdin, false, "Password for " + user + ": ", true);
            JsonObject u = (JsonObject) api().send("POST", "/api/users",
                    new JsonObject().put("username", user).put("password", password).put("role", role.name()));
            if (json()) {
                ctl().printJson(u);
                return;
            }
            out().println("created user " + u.getString("username") + " (" + u.getString("role") + ")");
        }
    }

    @Command(name = "delete", aliases = "rm", description = "Delete an operator account; its sessions end [deleteUser].")
    static final class Delete extends CtlCommand {
        @Parameters(paramLabel = "USER")
        String user;

        @Override
        void execute() {
            api().send("DELETE", "/api/users/" + ApiClient.segment(user), null);
            if (!json()) {
                out().println("deleted user " + user);
            }
        }
    }

    @Command(name = "password", description = "Set a password: an admin anyone's, others only their own (asked twice, or read from"
            + " stdin) [changePassword].")
    static final class Password extends CtlCommand {
        @Parameters(paramLabel = "USER", arity = "0..1", description = "default: you")
        String user;

        @Option(names = "--password-stdin", description = "read the new password from the first line of stdin")
        boolean passwordStdin;

        @Override
        void execute() {
            String who = user != null ? user : api().getObject("/api/session").getString("username");
            String password = ctl().password(passwordStdin, false, "New password for " + who + ": ", true);
            api().send("PUT", "/api/users/" + ApiClient.segment(who) + "/password", new JsonObject().put("password", password));
            if (!json()) {
                out().println("changed the password of " + who);
            }
        }
    }
}
