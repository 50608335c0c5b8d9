package io.vvolgate.control;

import io.vvolgate.control.config.ApplianceConfig;
import io.vvolgate.control.config.ConfigException;
import io.vvolgate.control.config.ConfigParser;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * The {@code vvolgate} command line. Exit codes: 0 done (or stopped by SIGTERM/SIGINT), 1 the appliance
 * could not start, 2 a bad command line or a bad configuration.
 *
 * <p>{@link #run} does the work with injected streams, working directory and wait-for-shutdown policy, so
 * tests drive it in-process; {@link #main} wires it to the process.
 */
public final class Main {

    public static final int EXIT_OK = 0;
    public static final int EXIT_START_FAILED = 1;
    public static final int EXIT_USAGE = 2;

    static final String USAGE = """
            usage: vvolgate serve [--config FILE]   run the appliance until SIGTERM or SIGINT
                   vvolgate fsck [--repair] [--read-data] IMAGE [IMAGE2]
                                                    check the storage container on IMAGE offline, or on
                                                    one or both legs of a mirrored pair (both: the legs
                                                    are compared too); exit 0 clean, 1 problems found,
                                                    2 usage (opens them read-only without --repair)
                   vvolgate ctl COMMAND ...         operate a running appliance through its REST API (log in
                                                    first: vvolgate ctl login; see vvolgate ctl help)
                   vvolgate help                    show this help
                   vvolgate --version               print the version

            serve without --config runs the built-in default: subsystem nqn.2026-11.io.vvolgate:default
            with one 1 GiB volume ("demo", 512-byte blocks) in a storage container mirrored over two sparse
            images, I/O on 127.0.0.1:4420, discovery on 127.0.0.1:8009, state (identities, images) in ./var
            under the current directory. With --config FILE, relative paths
            in FILE are relative to FILE's directory. The format is described in control/CONFIG.md.""";

    /** What {@code serve} does once the appliance is up; returns when it should stop. */
    @FunctionalInterface
    interface Lifetime {
        /** Blocks until the appliance is to stop, then returns the exit code; may close it itself. */
        int serve(Appliance appliance);
    }

    private final PrintStream out;
    private final PrintStream err;
    private final Path workingDir;
    private final Lifetime lifetime;

    Main(PrintStream out, PrintStream err, Path workingDir, Lifetime lifetime) {
        this.out = out;
        this.err = err;
        this.workingDir = workingDir;
        this.lifetime = lifetime;
    }

    public static void main(String[] args) {
        // One line per log record on stderr (the JDK's default takes two), unless the operator chose a format.
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tF %1$tT %4$s %3$s: %5$s%6$s%n");
        }
        Main main = new Main(System.out, System.err, Path.of("").toAbsolutePath(), Main::untilSignal);
        int code = main.run(args);
        System.out.flush();
        System.exit(code);
    }

    /**
     * Serves until SIGTERM or SIGINT. The shutdown hook closes the gateway, says so, and halts with 0: an
     * ordinary return from a hook would let the JVM exit with 128+signal, and calling exit from a hook
     * deadlocks. Nothing else in this process registers a hook that could be cut short.
     */
    private static int untilSignal(Appliance appliance) {
        CountDownLatch never = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                appliance.close();
                System.out.println("vvolgate: stopped");
                System.out.flush();
            } catch (RuntimeException e) {
                System.err.println("vvolgate: error: while stopping: " + e);
                System.err.flush();
                Runtime.getRuntime().halt(EXIT_START_FAILED);
            }
            Runtime.getRuntime().halt(EXIT_OK);
        }, "vvolgate-shutdown"));
        try {
            never.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return EXIT_OK;
    }

    int run(String[] args) {
        if (args.length == 0) {
            return usageError("no command given");
        }
        return switch (args[0]) {
            case "serve" -> serve(args);
            case "fsck" -> fsck(args);
            case "ctl" -> io.vvolgate.control.cli.Ctl.run(java.util.Arrays.copyOfRange(args, 1, args.length), out, err,
                    System.getenv(), System.in, System.console());
            case "help", "--help", "-h" -> {
                out.println(USAGE);
                yield EXIT_OK;
            }
            case "--version", "version" -> {
                out.println("vvolgate " + version());
                yield EXIT_OK;
            }
            default -> usageError("unknown command \"" + args[0] + "\"");
        };
    }

    private int serve(String[] args) {
        String configArg = null;
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            String value;
            if (a.equals("--config") || a.equals("-c")) {
                if (i + 1 >= args.length) {
                    return usageError(a + " needs a file name");
                }
                value = args[++i];
            } else if (a.startsWith("--config=")) {
                value = a.substring("--config=".length());
            } else {
                return usageError("unknown argument \"" + a + "\" for serve");
            }
            if (configArg != null) {
                return usageError("--config given twice");
            }
            if (value.isEmpty()) {
                return usageError("--config needs a file name");
            }
            configArg = value;
        }
        ApplianceConfig config;
        try {
            // Messages name the file as the operator typed it.
            config = configArg == null
                    ? ConfigParser.loadDefault(workingDir)
                    : ConfigParser.load(workingDir.resolve(configArg), configArg);
        } catch (ConfigException e) {
            for (String problem : e.problems()) {
                err.println("vvolgate: error: " + problem);
            }
            err.flush();
            return EXIT_USAGE;
        }
        Appliance appliance;
        try {
            appliance = Appliance.start(config, out, err);
        } catch (Appliance.StartException e) {
            err.println("vvolgate: error: " + e.getMessage());
            err.flush();
            return e.configProblem() ? EXIT_USAGE : EXIT_START_FAILED;
        }
        return lifetime.serve(appliance);
    }

    private int fsck(String[] args) {
        boolean repair = false;
        boolean readData = false;
        java.util.List<Path> images = new java.util.ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--repair" -> repair = true;
                case "--read-data" -> readData = true;
                default -> {
                    if (args[i].startsWith("-") || images.size() == 2) {
                        return usageError("unknown argument \"" + args[i] + "\" for fsck");
                    }
                    images.add(workingDir.resolve(args[i]));
                }
            }
        }
        if (images.isEmpty()) {
            return usageError("fsck needs the image or device holding the container (or both legs of a mirrored pair)");
        }
        io.vvolgate.gateway.ContainerCheck check;
        try {
            check = io.vvolgate.gateway.ContainerCheck.run(images, repair, readData);
        } catch (io.vvolgate.gateway.GatewayException e) {
            err.println("vvolgate: error: " + e.getMessage());
            return EXIT_START_FAILED;
        }
        check.lines().forEach(line -> out.println("vvolgate fsck: " + line));
        out.println("vvolgate fsck: " + (check.clean() ? "clean" : check.errors() ? "errors found" : "warnings found")
                + (check.repaired() ? " (repairs made)" : ""));
        return check.clean() ? EXIT_OK : EXIT_START_FAILED;
    }

    private int usageError(String problem) {
        err.println("vvolgate: error: " + problem);
        err.println(USAGE);
        err.flush();
        return EXIT_USAGE;
    }

    static String version() {
        try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            String v = p.getProperty("version");
            return v == null || v.startsWith("$") ? "(development build)" : v;
        } catch (IOException e) {
            return "(unknown version)";
        }
    }
}
