package io.vvolgate.hil;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The virtual rig: Debian's own Linux kernel, booted under QEMU, is a real NVMe/TCP host for the
 * appliance running on this machine (DESIGN.md §6). Boot 1 runs the functional suite and writes a
 * pattern; the appliance is then stopped with SIGTERM and started again on the same state directory,
 * with two more namespaces in its config: nsid 2, a read-only snapshot of the volume (taken at that
 * start, so it freezes what boot 1 left), and nsid 3, a linked clone of that snapshot. Boot 2 checks
 * the pattern and the namespace's NGUID/UUID survived, that the snapshot reads back boot 1's data (fio
 * verify included) while the volume keeps changing and refuses writes, and that the clone starts as
 * the snapshot and takes writes without touching either. Boot 3 runs against a fresh appliance whose
 * only export is a storage container's protocol endpoint subsystem, driven through the REST API while the
 * guest stays connected (see {@link BindScenario}): bound volumes appear on the host without a reconnect,
 * carry fio-verified data into a snapshot's linked clone, disappear again on unbind, and never show to a
 * second, unbound host NQN. Each guest step and each API checkpoint is its own dynamic test, so a failure
 * names the step.
 *
 * <p>Needs root (apt-get) or the packages already installed, and about 6 minutes on 2 cores (TCG).
 * Every run keeps its files (config, appliance logs, serial consoles) under
 * {@code target/virtual-rig-runs/<time>/}. Set {@code -Dvvolgate.rig.skip=true} to opt out explicitly.
 */
final class VirtualRigTest
{
    static final String NQN = "nqn.2026-11.io.vvolgate:rig";

    /** Steps the guest's plan must contain, so the plan cannot silently shrink. */
    private static final List<String> REQUIRED_MAIN_STEPS = List.of(
        "discover", "connect", "list", "id-ctrl", "id-ns", "ns-descs", "ana-log", "smart-log",
        "fio-randwrite-4k-verify", "fio-mixed-4k-256k-verify", "flush", "write-zeroes", "compare-equal",
        "compare-unequal", "dsm-deallocate", "persist-write", "disconnect", "connect-digests", "connect-ioq1",
        "connect-ioq2", "connect-unknown-nqn-refused");
    private static final List<String> REQUIRED_VERIFY_STEPS = List.of(
        "discover", "connect", "ns-ids-stable", "persist-read", "namespaces", "snap-same-as-volume",
        "volume-changes-snap-intact", "snap-read-only", "clone-writable", "snap-fio-verify-readonly", "disconnect");

    private static final List<String> REQUIRED_BIND_STEPS = List.of(
        "pe-discover", "pe-connect", "pe-connect-second-host", "no-namespace-before-bind", "bind-volume-appears",
        "fio-verify-bound", "pattern-write-bound", "second-host-after-bind", "bind-clone-appears", "clone-same-data",
        "clone-fio-verify-only", "second-host-after-clone-bind", "path-without-aen", "unbind-volume-disappears",
        "io-to-unbound-nsid-fails", "unbind-clone-disappears", "second-host-after-unbind", "pe-disconnect");

    /** Boot 3's container: its protocol endpoint subsystem is the appliance's only export. */
    private static final String BIND_CONTAINER = "rig-vvols";
    private static final long BOUND_VOLUME_BYTES = 256L << 20;
    /** The host NQN guest/init derives from RIG_HOSTID. */
    private static final String UUID_HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:";

    private static final Duration SETUP_TIMEOUT = Duration.ofMinutes(15);
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final Duration MAIN_BOOT_TIMEOUT = Duration.ofMinutes(12);
    private static final Duration VERIFY_BOOT_TIMEOUT = Duration.ofMinutes(4);
    private static final Duration BIND_BOOT_TIMEOUT = Duration.ofMinutes(6);
    private static final Duration API_ACTIONS_WAIT = Duration.ofSeconds(90);

    private final Path rigDir = Path.of(System.getProperty("vvolgate.rig.dir", "virtual-rig")).toAbsolutePath();
    private final Path cacheDir = Path.of(System.getProperty("vvolgate.rig.cache", "target/rig")).toAbsolutePath();
    private final Path runsDir = Path.of(System.getProperty("vvolgate.rig.runs", "target/virtual-rig-runs")).toAbsolutePath();

    @TestFactory
    @Timeout(value = 40, unit = TimeUnit.MINUTES)
    Stream<DynamicNode> virtualRig() throws Exception
    {
        Assumptions.assumeFalse(Boolean.getBoolean("vvolgate.rig.skip"), "virtual rig skipped by -Dvvolgate.rig.skip=true");

        final Path runDir = runsDir.resolve(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS")));
        Files.createDirectories(runDir);
        log("run directory " + runDir);

        final String kernel = setUpRig(runDir);
        log(kernel);

        final Path stateDir = Files.createDirectories(runDir.resolve("state"));
        final Path config = writeConfig(runDir.resolve("vvolgate.toml"), stateDir, false);
        final Path suite = rigDir.resolve("guest/nvme-tcp-suite.sh");
        final String token = Long.toHexString(System.nanoTime());
        final String hostId = UUID.randomUUID().toString(); // both boots are the same host
        final List<DynamicNode> nodes = new ArrayList<>();

        if ("bind".equals(System.getProperty("vvolgate.rig.only")))
        {
            // Boot 3 alone (it needs nothing from boots 1 and 2): for working on the bind scenario.
            nodes.addAll(bindBoot(runDir, suite, token));
            return nodes.stream();
        }

        // Boot 1: the functional suite; it also writes the persistence pattern.
        final GuestBoot.Outcome main;
        final int firstStop;
        try (ApplianceProcess appliance = startAppliance(config, runDir.resolve("appliance-1.log")))
        {
            main = GuestBoot.run(rigDir, cacheDir, suite, params("main", appliance, Map.of("RIG_PERSIST_TOKEN", token, "RIG_HOSTID", hostId)),
                runDir, "boot1-main", MAIN_BOOT_TIMEOUT);
            firstStop = appliance.stop(STOP_GRACE);
        }
        nodes.add(bootNode("boot1-main", main, REQUIRED_MAIN_STEPS));
        nodes.add(dynamicTest("appliance stops cleanly on SIGTERM (1st run)",
            () -> assertEquals(0, firstStop, "exit status after SIGTERM; log " + runDir.resolve("appliance-1.log"))));

        // Boot 2: same state directory, a fresh appliance process.
        final Map<String, String> expected = new LinkedHashMap<>();
        expected.put("RIG_EXPECT_PERSIST_SHA256", main.report().value("persist_sha256").orElse(""));
        expected.put("RIG_EXPECT_NGUID", main.report().value("nguid").orElse(""));
        expected.put("RIG_EXPECT_UUID", main.report().value("uuid").orElse(""));
        expected.put("RIG_HOSTID", hostId);
        expected.put("RIG_PERSIST_TOKEN", token);
        final GuestBoot.Outcome verify;
        final int secondStop;
        // The restart also takes a snapshot of the volume (nsid 2) and a linked clone of it (nsid 3).
        final Path config2 = writeConfig(runDir.resolve("vvolgate-boot2.toml"), stateDir, true);
        try (ApplianceProcess appliance = startAppliance(config2, runDir.resolve("appliance-2.log")))
        {
            verify = GuestBoot.run(rigDir, cacheDir, suite, params("verify", appliance, expected),
                runDir, "boot2-verify", VERIFY_BOOT_TIMEOUT);
            secondStop = appliance.stop(STOP_GRACE);
        }
        nodes.add(bootNode("boot2-verify", verify, REQUIRED_VERIFY_STEPS));
        nodes.add(dynamicTest("appliance stops cleanly on SIGTERM (2nd run)",
            () -> assertEquals(0, secondStop, "exit status after SIGTERM; log " + runDir.resolve("appliance-2.log"))));

        // Boot 3: bind and unbind through the API while the guest is connected.
        final long bindStarted = System.nanoTime();
        nodes.addAll(bindBoot(runDir, suite, token));
        log(String.format("guest boot 1 %ds, boot 2 %ds, boot 3 (with its appliance) %ds", main.elapsed().toSeconds(),
            verify.elapsed().toSeconds(), Duration.ofNanos(System.nanoTime() - bindStarted).toSeconds()));
        reportFailures(main);
        reportFailures(verify);
        return nodes.stream();
    }

    /**
     * Boot 3: a fresh appliance (own state directory) with one container and no configured subsystem.
     * The test registers the guest's host NQN and a second one and creates a volume, then the guest
     * connects as both and the test binds, snapshots, clones and unbinds at the guest's checkpoints.
     */
    private List<DynamicNode> bindBoot(final Path runDir, final Path suite, final String token) throws IOException, InterruptedException
    {
        final String name = "boot3-bind";
        final Path stateDir = Files.createDirectories(runDir.resolve("state-bind"));
        final Path config = writeBindConfig(runDir.resolve("vvolgate-bind.toml"), stateDir);
        final Path applianceLog = runDir.resolve("appliance-3.log");
        final String password = "rig-" + UUID.randomUUID();
        final String hostId = UUID.randomUUID().toString();
        final String host2Id = UUID.randomUUID().toString();
        final String hostNqn = UUID_HOST_NQN + hostId;
        final String host2Nqn = UUID_HOST_NQN + host2Id;
        final List<DynamicNode> nodes = new ArrayList<>();

        final ApplianceProcess started;
        try
        {
            started = ApplianceProcess.start(config, applianceLog, READY_TIMEOUT, Map.of("VVOLGATE_ADMIN_PASSWORD", password));
        }
        catch (final IllegalStateException e)
        {
            // Boots 1 and 2 have results already: report this as a failing test rather than lose them.
            nodes.add(dynamicTest(name + ": appliance starts", () -> fail(e.getMessage())));
            return nodes;
        }
        final GuestBoot.Outcome outcome;
        final BindScenario scenario;
        final int stop;
        try (ApplianceProcess appliance = started)
        {
            final ApplianceApi api = new ApplianceApi(appliance.apiUrl());
            try
            {
                scenario = BindScenario.prepare(api, password, BIND_CONTAINER, hostNqn, host2Nqn, BOUND_VOLUME_BYTES);
            }
            catch (final IOException e)
            {
                final String why = e.getMessage() + "\nexchanges:\n" + String.join("\n", api.transcript()) + "\nlog " + applianceLog;
                nodes.add(dynamicTest(name + ": API registers the hosts and creates the volume", () -> fail(why)));
                return nodes;
            }
            log("appliance up for boot 3: api " + appliance.apiUrl() + ", protocol endpoint " + scenario.endpointNqn()
                + ", io port " + appliance.port("io"));
            final Map<String, String> extra = new LinkedHashMap<>();
            extra.put("RIG_NQN", scenario.endpointNqn());
            extra.put("RIG_PE_NQN", scenario.endpointNqn());
            extra.put("RIG_HOSTID", hostId);
            extra.put("RIG_HOST_NQN", hostNqn);
            extra.put("RIG_HOST2_NQN", host2Nqn);
            extra.put("RIG_HOST2_ID", host2Id);
            extra.put("RIG_VOLUME_NGUID", scenario.volume().getString("nguid", ""));
            extra.put("RIG_VOLUME_BYTES", Long.toString(BOUND_VOLUME_BYTES));
            extra.put("RIG_PERSIST_TOKEN", token);
            try (scenario)
            {
                outcome = GuestBoot.run(rigDir, cacheDir, suite, params("bind", appliance, extra), runDir, name, BIND_BOOT_TIMEOUT,
                    scenario::onCheckpoint);
                scenario.finish(API_ACTIONS_WAIT);
            }
            stop = appliance.stop(STOP_GRACE);
        }
        nodes.add(bootNode(name, outcome, REQUIRED_BIND_STEPS, apiTests(name, scenario, outcome.report())));
        nodes.add(dynamicTest("appliance stops cleanly on SIGTERM (3rd run)",
            () -> assertEquals(0, stop, "exit status after SIGTERM; log " + applianceLog)));
        reportFailures(outcome);
        return nodes;
    }

    /** The test's side of boot 3: each checkpoint's API action, and what the host saw against what the API said. */
    private static List<DynamicNode> apiTests(final String name, final BindScenario scenario, final GuestReport report)
    {
        final List<DynamicNode> tests = new ArrayList<>();
        tests.add(dynamicTest(name + ": API registers the hosts and creates the volume", () ->
        {
            assertTrue(scenario.volume().getString("nguid", "").matches("[0-9a-fA-F]{32}"), "volume " + scenario.volume().encode());
            assertEquals("nqn.2026-11.io.vvolgate:" + BIND_CONTAINER, scenario.endpointNqn(), "the container's protocol endpoint subsystem");
        }));
        for (final String checkpoint : BindScenario.CHECKPOINTS)
        {
            tests.add(dynamicTest(name + ": API at checkpoint " + checkpoint, () ->
            {
                final BindScenario.Action action = scenario.action(checkpoint).orElseThrow(() -> new AssertionError(
                    report.checkpoints().contains(checkpoint)
                        ? "the guest reached checkpoint " + checkpoint + " but its API action did not finish"
                        : "the guest never reached checkpoint " + checkpoint + " (reached " + report.checkpoints() + ")"));
                assertTrue(action.done(), checkpoint + ": " + action.detail() + "\nexchanges:\n" + String.join("\n", action.exchanges()));
            }));
        }
        tests.add(dynamicTest(name + ": the host saw the NSIDs and NGUID the API answered", () ->
        {
            assertEquals(scenario.boundNsid("volume").map(String::valueOf).orElse("none"),
                report.value("bound_volume_nsid").orElse("none"), "the volume's NSID: bind's answer vs the host's");
            assertEquals(scenario.boundNsid("clone").map(String::valueOf).orElse("none"),
                report.value("bound_clone_nsid").orElse("none"), "the clone's NSID: bind's answer vs the host's");
            assertEquals(scenario.linkedClone().map(c -> c.getString("nguid", "").replace("-", "").toLowerCase()).orElse("none"),
                report.value("clone_nguid").orElse("none"), "the clone's NGUID: the API's vs the host's");
        }));
        tests.add(dynamicTest(name + ": API shows the second host connected and never bound", () ->
        {
            final JsonObject host2 = scenario.host2AtEnd()
                .orElseThrow(() -> new AssertionError("the second host was not read back (checkpoint unbind-clone)"));
            assertTrue(host2.getBoolean("connected", false) && host2.getInteger("controllers", 0) >= 1,
                "the second host should be connected while the guest holds its controller: " + host2.encode());
            assertTrue(host2.getJsonArray("boundVvolIds", new JsonArray()).isEmpty(),
                "the second host has bound volumes: " + host2.encode());
        }));
        return tests;
    }

    private String setUpRig(final Path runDir) throws IOException, InterruptedException
    {
        final Path setupLog = runDir.resolve("setup.log");
        final Process setup = new ProcessBuilder("bash", rigDir.resolve("setup.sh").toString(), cacheDir.toString())
            .redirectErrorStream(true)
            .redirectOutput(setupLog.toFile())
            .start();
        if (!setup.waitFor(SETUP_TIMEOUT.toSeconds(), TimeUnit.SECONDS))
        {
            setup.descendants().forEach(ProcessHandle::destroyForcibly);
            setup.destroyForcibly();
            fail("virtual-rig/setup.sh did not finish within " + SETUP_TIMEOUT + "; log " + setupLog + ":\n" + tail(setupLog, 30));
        }
        if (setup.exitValue() != 0)
        {
            fail("virtual-rig/setup.sh failed (exit " + setup.exitValue() + "); the rig needs root or the packages "
                + "qemu-system-x86 busybox-static cpio nvme-cli fio kmod and apt access; log " + setupLog + ":\n" + tail(setupLog, 30));
        }
        final Process qemu = new ProcessBuilder("qemu-system-x86_64", "--version").redirectErrorStream(true).start();
        final String version = new String(qemu.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!qemu.waitFor(30, TimeUnit.SECONDS) || qemu.exitValue() != 0)
        {
            fail("qemu-system-x86_64 cannot run: " + version);
        }
        return tail(setupLog, 1) + "; " + version.lines().findFirst().orElse("");
    }

    /**
     * The rig's config: one subsystem with the volume as nsid 1; with {@code snapshotAndClone} (boot 2)
     * also a snapshot of it (nsid 2) and a linked clone of the snapshot (nsid 3), both made by the
     * appliance when it starts on a state directory that lacks them.
     */
    private static Path writeConfig(final Path config, final Path stateDir, final boolean snapshotAndClone) throws IOException
    {
        Files.writeString(config, """
            # Written by VirtualRigTest for one rig run.
            state_dir = "%s"

            [api]
            port = 0

            [[listener]]
            address = "127.0.0.1"
            port = 0
            kind = "io"

            [[listener]]
            address = "127.0.0.1"
            port = 0
            kind = "discovery"

            [[subsystem]]
            nqn = "%s"
            allow_any_host = true

            # The host's namespace is a thin volume in a storage container mirrored over two sparse images:
            # the rig drives the product's own data path (copy-on-write maps, metadata log, mirror).
            [[container]]
            name = "rig"
            devices = ["rig-a.img", "rig-b.img"]
            size = "1GiB"

            [[subsystem.namespace]]
            nsid = 1
            backend = "volume"
            container = "rig"
            volume = "rig-volume"
            size = "512MiB"
            block_size = 512
            """.formatted(stateDir, NQN) + (snapshotAndClone ? """

            [[subsystem.namespace]]
            nsid = 2
            backend = "volume"
            container = "rig"
            volume = "rig-snap"
            snapshot_of = "rig-volume"
            size = "512MiB"
            block_size = 512

            [[subsystem.namespace]]
            nsid = 3
            backend = "volume"
            container = "rig"
            volume = "rig-clone"
            clone_of = "rig-snap"
            size = "512MiB"
            block_size = 512
            """ : ""));
        return config;
    }

    /**
     * Boot 3's config: a single-image container and no [[subsystem]], so the container's protocol endpoint
     * subsystem is the only export: it admits only hosts registered through the API and shows each host
     * only the volumes bound to it.
     */
    private static Path writeBindConfig(final Path config, final Path stateDir) throws IOException
    {
        Files.writeString(config, """
            # Written by VirtualRigTest for one rig run (boot 3: bind through the API).
            state_dir = "%s"

            [api]
            port = 0

            [[listener]]
            address = "127.0.0.1"
            port = 0
            kind = "io"

            [[listener]]
            address = "127.0.0.1"
            port = 0
            kind = "discovery"

            [[container]]
            name = "%s"
            devices = ["rig-vvols.img"]
            size = "1GiB"
            """.formatted(stateDir, BIND_CONTAINER));
        return config;
    }

    private static ApplianceProcess startAppliance(final Path config, final Path log) throws IOException
    {
        final ApplianceProcess appliance = ApplianceProcess.start(config, log, READY_TIMEOUT);
        if (!appliance.subsystems().containsKey(NQN))
        {
            appliance.close();
            fail("appliance did not announce 'vvolgate: subsystem " + NQN + "'; log " + log + ":\n" + appliance.outputTail(40));
        }
        log("appliance up: io port " + appliance.port("io") + ", discovery port " + appliance.port("discovery"));
        return appliance;
    }

    private static Map<String, String> params(final String phase, final ApplianceProcess appliance, final Map<String, String> extra)
    {
        final Map<String, String> params = new LinkedHashMap<>();
        params.put("RIG_PHASE", phase);
        params.put("RIG_TARGET", "10.0.2.2"); // the machine, as QEMU user networking shows it to the guest
        params.put("RIG_IO_PORT", Integer.toString(appliance.port("io")));
        params.put("RIG_DISC_PORT", Integer.toString(appliance.port("discovery")));
        params.put("RIG_NQN", NQN);
        params.putAll(extra);
        return params;
    }

    private static DynamicNode bootNode(final String name, final GuestBoot.Outcome outcome, final List<String> required)
    {
        return bootNode(name, outcome, required, List.of());
    }

    /** The boot's tests: it ran, its plan, each step, then {@code more}, then its overall result. */
    private static DynamicNode bootNode(final String name, final GuestBoot.Outcome outcome, final List<String> required,
        final List<DynamicNode> more)
    {
        final GuestReport report = outcome.report();
        final List<DynamicNode> tests = new ArrayList<>();
        final String where = " (serial log " + outcome.serialLog() + ")";
        tests.add(dynamicTest(name + ": guest ran the suite and powered off", () ->
        {
            assertTrue(!outcome.timedOut(), "guest timed out after " + outcome.elapsed().toSeconds() + "s" + where
                + "\n" + report.tail(40));
            assertTrue(report.poweredOff(), "guest did not reach poweroff (qemu exit " + outcome.exitStatus() + ")" + where
                + "\n" + report.tail(40));
            assertTrue(report.result().isPresent(), "suite printed no RIG-RESULT" + where + "\n" + report.tail(40));
        }));
        tests.add(dynamicTest(name + ": plan includes the required steps", () ->
        {
            final List<String> missing = required.stream().filter(s -> !report.plan().contains(s)).toList();
            assertTrue(missing.isEmpty(), "RIG-PLAN lacks " + missing + "; plan " + report.plan() + where);
        }));
        for (final String step : report.stepNames())
        {
            tests.add(dynamicTest(name + ": " + step, () ->
            {
                final GuestReport.Step s = report.step(step)
                    .orElseThrow(() -> new AssertionError(name + " step " + step + " never reported" + where));
                if (!s.passed())
                {
                    fail(name + " step " + step + " FAILED: " + s.detail() + where + "\n" + String.join("\n", report.log(step)));
                }
            }));
        }
        tests.addAll(more);
        tests.add(dynamicTest(name + ": RIG-RESULT PASS", () -> assertEquals("PASS", report.result().orElse("none"),
            name + " suite result" + where)));
        return dynamicContainer(name + " (" + outcome.elapsed().toSeconds() + "s)", tests.stream());
    }

    private static void reportFailures(final GuestBoot.Outcome outcome)
    {
        final GuestReport report = outcome.report();
        if (!"PASS".equals(report.result().orElse("")) || outcome.timedOut())
        {
            final String markers = report.lines().stream().filter(l -> l.contains("RIG-")).collect(Collectors.joining("\n"));
            log("guest console markers from " + outcome.serialLog() + ":\n" + markers);
        }
    }

    private static String tail(final Path file, final int count) throws IOException
    {
        if (!Files.exists(file))
        {
            return "";
        }
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Files.newInputStream(file), StandardCharsets.UTF_8)))
        {
            final List<String> lines = in.lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - count), lines.size()));
        }
    }

    private static void log(final String message)
    {
        System.out.println("[virtual-rig] " + message);
    }
}
