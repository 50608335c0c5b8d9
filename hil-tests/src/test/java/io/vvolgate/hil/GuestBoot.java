package io.vvolgate.hil;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * One boot of the rig's guest: {@code virtual-rig/run-guest.sh} under QEMU with a test script and its
 * parameters. Streams the serial console into a log file (kept in the run directory) and a
 * {@link GuestReport}. Runs on the calling thread; the process tree is killed on timeout. The console
 * thread hands each {@code RIG-CHECKPOINT} to a listener, which must not block it for long (the guest's
 * output would back up behind it).
 */
final class GuestBoot
{
    private static final Pattern SAFE_VALUE = Pattern.compile("[\\w.:/@+-]*");

    record Outcome(GuestReport report, int exitStatus, boolean timedOut, Duration elapsed, Path serialLog) {}

    private GuestBoot()
    {
    }

    static Outcome run(
        final Path rigDir,
        final Path cacheDir,
        final Path script,
        final Map<String, String> params,
        final Path runDir,
        final String name,
        final Duration timeout) throws IOException, InterruptedException
    {
        return run(rigDir, cacheDir, script, params, runDir, name, timeout, checkpoint -> {});
    }

    /** As the other {@code run}, calling {@code onCheckpoint} (on the console thread) for each checkpoint. */
    static Outcome run(
        final Path rigDir,
        final Path cacheDir,
        final Path script,
        final Map<String, String> params,
        final Path runDir,
        final String name,
        final Duration timeout,
        final Consumer<String> onCheckpoint) throws IOException, InterruptedException
    {
        final Path paramsFile = runDir.resolve(name + ".params");
        Files.writeString(paramsFile, params.entrySet().stream()
            .map(e -> e.getKey() + "='" + checkSafe(e.getKey(), e.getValue()) + "'\n")
            .collect(Collectors.joining()));
        final Path serialLog = runDir.resolve(name + ".serial.log");

        final long started = System.nanoTime();
        final Process process = new ProcessBuilder(
            "bash", rigDir.resolve("run-guest.sh").toString(), cacheDir.toString(), script.toString(),
            paramsFile.toString(), Long.toString(timeout.toSeconds()))
            .redirectErrorStream(true)
            .start();
        process.getOutputStream().close();

        final GuestReport report = new GuestReport();
        final Thread reader = new Thread(() -> copyConsole(process, serialLog, report, onCheckpoint), "guest-console-" + name);
        reader.setDaemon(true);
        reader.start();

        // run-guest.sh enforces the timeout itself; this is the backstop for a wedged wrapper. The
        // finally also covers the test being interrupted (JUnit @Timeout): QEMU must not outlive it.
        boolean timedOut = true;
        try
        {
            timedOut = !process.waitFor(timeout.toSeconds() + 30, TimeUnit.SECONDS);
        }
        finally
        {
            if (process.isAlive())
            {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
        reader.join(TimeUnit.SECONDS.toMillis(10));
        final int exit = timedOut ? -1 : process.exitValue();
        timedOut |= exit == 124; // timeout(1) in run-guest.sh
        return new Outcome(report, exit, timedOut, Duration.ofNanos(System.nanoTime() - started), serialLog);
    }

    private static void copyConsole(final Process process, final Path serialLog, final GuestReport report,
        final Consumer<String> onCheckpoint)
    {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(Files.newBufferedWriter(serialLog, StandardCharsets.UTF_8), true))
        {
            String line;
            while ((line = in.readLine()) != null)
            {
                line = line.replace("\r", "");
                out.println(line);
                synchronized (report)
                {
                    report.accept(line);
                }
                GuestReport.checkpointIn(line).ifPresent(onCheckpoint);
            }
        }
        catch (final IOException e)
        {
            synchronized (report)
            {
                report.accept("rig: console read failed: " + e);
            }
        }
    }

    // Parameters are sourced by the guest's shell: keep them to characters that need no quoting.
    private static String checkSafe(final String key, final String value)
    {
        if (!SAFE_VALUE.matcher(value).matches())
        {
            throw new IllegalArgumentException("guest parameter " + key + " has unsafe characters: " + value);
        }
        return value;
    }
}
