package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.Console;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * {@code vvolgate ctl}: the operator's command line over the appliance's REST API. Every operation of the
 * API (the VASA names are in each command's help) is a command, grouped by what it acts on; tables for
 * people, {@code --json} for programs.
 *
 * <p>Exit status: 0 done, 1 the appliance refused (or could not be reached, or a task failed), 2 a bad
 * command line, 3 not logged in or the session has ended. An error is one line on stderr,
 * {@code vvolgate ctl: <sentence> (<code>)}, the code being the API's.
 *
 * <p>An instance runs one command on the caller's thread; {@link #run} injects the streams, the environment
 * and the console so tests drive it in-process.
 */
@Command(name = "vvolgate ctl", mixinStandardHelpOptions = false, usageHelpAutoWidth = true,
        description = {"Operate a vvolgate appliance through its REST API. Log in first (ctl login); the session is kept in"
                + " ~/.config/vvolgate/ctl.json (or $VVOLGATE_CTL_CONFIG). Volumes are named by ID, by a unique ID prefix as"
                + " tables show them, by name, or by container/name. Every listing and show takes --json (the API's JSON)"
                + " and --wide (full IDs and more columns). The API operation (VASA name) is shown in brackets."},
        subcommands = {
                CommandLine.HelpCommand.class,
                SessionCommands.Login.class,
                SessionCommands.Logout.class,
                SessionCommands.Session.class,
                ContainerCommands.class,
                ProfileCommands.class,
                VvolCommands.class,
                HostCommands.class,
                MonitorCommands.Pe.class,
                MonitorCommands.Device.class,
                MonitorCommands.Task.class,
                MonitorCommands.Event.class,
                MonitorCommands.Alarm.class,
                MonitorCommands.Audit.class,
                MonitorCommands.Perf.class,
                UserCommands.class,
        })
public final class Ctl implements Runnable {
    static final String DEFAULT_URL = "http://127.0.0.1:8080";
    static final String PREFIX = "vvolgate ctl: ";

    final PrintStream out;
    final PrintStream err;
    final Map<String, String> env;
    private final InputStream stdin;
    private final Console console;
    /** How often {@code --wait} and {@code --follow} ask again. */
    Duration pollInterval = Duration.ofMillis(500);
    private ApiClient api;
    private BufferedReader stdinLines;

    @Spec
    CommandSpec spec;

    Ctl(PrintStream out, PrintStream err, Map<String, String> env, InputStream stdin, Console console) {
        this.out = out;
        this.err = err;
        this.env = env;
        this.stdin = stdin;
        this.console = console;
    }

    /** Runs {@code vvolgate ctl ARGS} and returns the exit status. */
    public static int run(String[] args, PrintStream out, PrintStream err, Map<String, String> env, InputStream stdin,
            Console console) {
        Ctl ctl = new Ctl(out, err, env, stdin, console);
        try {
            return ctl.execute(args);
        } finally {
            if (ctl.api != null) {
                ctl.api.close();
            }
            out.flush();
            err.flush();
        }
    }

    /** For {@code Main}: the process's own streams, environment and terminal. */
    public static int run(String[] args) {
        return run(args, System.out, System.err, System.getenv(), System.in, System.console());
    }

    int execute(String[] args) {
        CommandLine cl = commandLine();
        return cl.execute(args);
    }

    CommandLine commandLine() {
        CommandLine cl = new CommandLine(this);
        cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((e, a) -> {
            err.println(PREFIX + e.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
            err.println("see: " + e.getCommandLine().getCommandSpec().qualifiedName() + " --help");
            return CtlException.EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((e, c, parsed) -> {
            if (e instanceof CtlException x) {
                report(x, c.getCommandSpec().qualifiedName());
                return x.exitCode();
            }
            if (e instanceof CommandLine.ParameterException p) {
                return c.getParameterExceptionHandler().handleParseException(p, new String[0]);
            }
            err.println(PREFIX + "internal error: " + e);
            return CtlException.EXIT_REFUSED;
        });
        return cl;
    }

    private void report(CtlException x, String command) {
        boolean showCode = x.exitCode() != CtlException.EXIT_USAGE && x.code() != null;
        err.println(PREFIX + x.getMessage() + (showCode ? " (" + x.code() + ")" : ""));
        if (x.exitCode() == CtlException.EXIT_LOGIN) {
            err.println(PREFIX + "log in with: vvolgate ctl login" + (env.get("VVOLGATE_URL") == null ? " --url URL" : ""));
        } else if (x.exitCode() == CtlException.EXIT_USAGE) {
            err.println("see: " + command + " --help");
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(out);
    }

    Path configPath() {
        return StoredLogin.path(env);
    }

    /** The client of the appliance this operator logged in to; exit 3 if there is no session. */
    ApiClient api() {
        if (api == null) {
            StoredLogin login = StoredLogin.load(configPath());
            if (login == null || login.token() == null) {
                throw new CtlException(CtlException.EXIT_LOGIN, "not_logged_in", "not logged in"
                        + (login == null ? "" : " (logged out of " + login.url() + ")"));
            }
            api = new ApiClient(login.url(), login.token(), login.caFile(), login.insecure());
        }
        return api;
    }

    /** A client without a session, for logging in. */
    ApiClient anonymous(String url, String caFile, boolean insecure) {
        if (api != null) {
            api.close();
        }
        api = new ApiClient(url, null, caFile, insecure);
        return api;
    }

    /**
     * A password: the first line of stdin with {@code --password-stdin}, else {@code $VVOLGATE_PASSWORD} if
     * {@code envOk}, else asked on the terminal without echo ({@code confirm}: twice).
     */
    String password(boolean fromStdin, boolean envOk, String prompt, boolean confirm) {
        if (fromStdin) {
            try {
                if (stdinLines == null) {
                    stdinLines = new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8));
                }
                String line = stdinLines.readLine();
                if (line == null || line.isEmpty()) {
                    throw CtlException.usage("--password-stdin: stdin gave no password");
                }
                return line;
            } catch (IOException e) {
                throw CtlException.usage("--password-stdin: cannot read stdin: " + e.getMessage());
            }
        }
        String fromEnv = env.get("VVOLGATE_PASSWORD");
        if (envOk && fromEnv != null && !fromEnv.isEmpty()) {
            return fromEnv;
        }
        if (console == null) {
            throw CtlException.usage("no terminal to ask for the password on: use --password-stdin"
                    + (envOk ? " or set VVOLGATE_PASSWORD" : ""));
        }
        char[] first = console.readPassword("%s", prompt);
        if (first == null || first.length == 0) {
            throw CtlException.usage("no password given");
        }
        if (confirm) {
            char[] again = console.readPassword("%s", "Again: ");
            if (again == null || !new String(first).equals(new String(again))) {
                throw CtlException.usage("the two passwords differ");
            }
        }
        return new String(first);
    }

    void printJson(Object json) {
        if (json instanceof JsonObject o) {
            out.println(o.encodePrettily());
        } else if (json instanceof JsonArray a) {
            out.println(a.encodePrettily());
        } else if (json != null) {
            out.println(json);
        }
    }

    void sleepPoll() {
        try {
            Thread.sleep(pollInterval);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw CtlException.refused("interrupted", "interrupted");
        }
    }
}
