package io.vvolgate.hil;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The web console in a real browser against the real appliance: the appliance runs as its own process
 * (API on a free port, the admin password from {@code VVOLGATE_ADMIN_PASSWORD}), a host drives I/O at a
 * volume the configuration exports, and {@code control/console/tests/console.e2e.mjs} drives Debian's
 * Chromium through playwright-core: log in, see capacity and IOPS move on the dashboard, create a volume,
 * snapshot it and see the tree, register a host and bind the volume to it, see an API error next to the
 * field that caused it, visit every page at 1280×800 and at phone width, log out.
 *
 * <p>Screenshots are kept in {@code hil-tests/target/console-screenshots/}; the script's output and the
 * appliance's log in {@code target/console-runs/<time>/}.
 */
class ConsoleBrowserTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:console";
    static final String PASSWORD = "console-test-password";
    static final Duration SCRIPT_TIMEOUT = Duration.ofMinutes(5);

    @Test
    @Timeout(480)
    void theConsoleWorksInARealBrowser() throws Exception {
        Path consoleDir = Path.of(System.getProperty("vvolgate.console.dir", "../control/console")).toAbsolutePath().normalize();
        Path script = consoleDir.resolve("tests").resolve("console.e2e.mjs");
        Path chromium = Path.of(System.getProperty("vvolgate.console.chromium", "/usr/bin/chromium"));
        Path shots = Path.of(System.getProperty("vvolgate.console.screenshots", "target/console-screenshots")).toAbsolutePath();
        assertTrue(Files.isExecutable(chromium), chromium + " is missing: install Debian's chromium (hil-tests/virtual-rig/setup.sh does)");
        assertTrue(Files.isDirectory(consoleDir.resolve("node_modules").resolve("playwright-core")),
                "playwright-core is not installed in " + consoleDir + ": the control module's build runs npm ci there (mvn -pl hil-tests -am)");
        String node = onPath("node");

        Path dir = Files.createDirectories(Path.of("target", "console-runs",
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS"))).toAbsolutePath());
        Path config = Files.writeString(dir.resolve("vvolgate.toml"), """
                state_dir = "state"
                [api]
                address = "127.0.0.1"
                port = 0
                [[listener]]
                address = "127.0.0.1"
                port = 0
                kind = "io"
                [[container]]
                name = "pool"
                devices = ["pool-a.img", "pool-b.img"]
                size = "512MiB"
                [[subsystem]]
                nqn = "%s"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "volume"
                container = "pool"
                volume = "load"
                size = "64MiB"
                block_size = 512
                """.formatted(NQN));
        try (ApplianceProcess appliance = ApplianceProcess.start(config, dir.resolve("appliance.log"), Duration.ofSeconds(90),
                Map.of("VVOLGATE_ADMIN_PASSWORD", PASSWORD));
             Load load = Load.start(appliance.port("io"))) {
            Path output = dir.resolve("console-e2e.log");
            ProcessBuilder builder = new ProcessBuilder(node, script.toString())
                    .directory(consoleDir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            builder.environment().putAll(Map.of(
                    "VVOLGATE_URL", appliance.apiUrl(),
                    "VVOLGATE_USER", "admin",
                    "VVOLGATE_PASSWORD", PASSWORD,
                    "VVOLGATE_SCREENSHOTS", shots.toString(),
                    "VVOLGATE_CHROMIUM", chromium.toString()));
            Process browser = builder.start();
            boolean finished = browser.waitFor(SCRIPT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                browser.descendants().forEach(ProcessHandle::destroyForcibly);
                browser.destroyForcibly();
                browser.waitFor(10, TimeUnit.SECONDS);
            }
            String out = Files.readString(output);
            System.out.println(out);
            if (!finished) {
                fail("the browser test did not finish within " + SCRIPT_TIMEOUT.toSeconds() + " s; its output:\n" + out
                        + "\nappliance log " + appliance.log() + ":\n" + appliance.outputTail(30));
            }
            if (browser.exitValue() != 0) {
                fail("the browser test failed (exit " + browser.exitValue() + "); screenshots in " + shots + "; its output:\n" + out
                        + "\nappliance log " + appliance.log() + ":\n" + appliance.outputTail(30));
            }
            assertTrue(load.completed() > 0, "the load reached the appliance");
            assertTrue(load.failure() == null, () -> "the load failed: " + load.failure());
        }
    }

    static String onPath(String program) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path p = Path.of(d, program);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        throw new IllegalStateException(program + " is not on the PATH; the console build needs Node.js and npm");
    }

    /**
     * A host writing and reading 4 KiB at random places of namespace 1, about 400 commands a second (paced, so
     * the browser keeps the CPU it needs), on its own thread until closed.
     */
    static final class Load implements AutoCloseable {
        private static final int BATCH = 40;
        private static final long BATCH_PERIOD_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
        private final NvmeTcpHost host;
        private final Thread thread;
        private final AtomicLong completed = new AtomicLong();
        private volatile boolean stop;
        private volatile Throwable failure;

        private Load(NvmeTcpHost host) {
            this.host = host;
            this.thread = new Thread(this::run, "console-test-load");
            thread.setDaemon(true);
        }

        static Load start(int port) throws IOException {
            Load load = new Load(NvmeTcpHost.connect("127.0.0.1", port, NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 64, false));
            load.thread.start();
            return load;
        }

        private void run() {
            Random rnd = new Random(42);
            byte[] data = new byte[4096];
            rnd.nextBytes(data);
            long blocks = (64L << 20) / 512;
            try {
                while (!stop) {
                    long batchStart = System.nanoTime();
                    for (int i = 0; i < BATCH && !stop; i++) {
                        long slba = (rnd.nextLong(blocks / 8)) * 8;
                        boolean write = rnd.nextInt(3) == 0;
                        NvmeTcpQueue.Completion c = write ? host.write(0, 1, slba, data, 512) : host.read(0, 1, slba, 8, 512);
                        if (!c.ok()) {
                            throw new IllegalStateException("command failed with status 0x" + Integer.toHexString(c.status()));
                        }
                        completed.incrementAndGet();
                    }
                    // Pacing, not waiting for anything: the load is meant to be steady and light.
                    LockSupport.parkNanos(BATCH_PERIOD_NANOS - (System.nanoTime() - batchStart));
                }
            } catch (Throwable t) {
                if (!stop) {
                    failure = t;
                }
            }
        }

        long completed() {
            return completed.get();
        }

        Throwable failure() {
            return failure;
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            thread.join(TimeUnit.SECONDS.toMillis(10));
            host.close();
        }
    }
}
