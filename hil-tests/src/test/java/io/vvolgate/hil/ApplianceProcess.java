package io.vvolgate.hil;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The appliance under test, run as a child JVM ({@code io.vvolgate.control.Main serve --config FILE})
 * with the test's own JVM and class path. Owns the process and the thread that copies its output to
 * a log file and watches for the startup lines of the appliance's stdout contract:
 *
 * <pre>
 *   vvolgate: subsystem &lt;NQN&gt; namespaces=&lt;n&gt;
 *   vvolgate: listening &lt;address&gt;:&lt;port&gt; nvme-tcp &lt;io|discovery&gt;
 *   vvolgate: api &lt;url&gt;
 *   vvolgate: ready
 * </pre>
 */
final class ApplianceProcess implements AutoCloseable
{
    static final String MAIN_CLASS = "io.vvolgate.control.Main";

    private static final Pattern LISTENING = Pattern.compile("^vvolgate: listening (\\S+):(\\d+) nvme-tcp (io|discovery)\\s*$");
    private static final Pattern SUBSYSTEM = Pattern.compile("^vvolgate: subsystem (\\S+) namespaces=(\\d+)\\s*$");
    private static final Pattern API = Pattern.compile("^vvolgate: api (\\S+)\\s*$");
    private static final String READY = "vvolgate: ready";

    private final Process process;
    private final Path log;
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private final Map<String, Integer> ports = new HashMap<>();
    private final Map<String, Integer> subsystems = new HashMap<>();
    private final List<String> output = new ArrayList<>();
    private String apiUrl;
    private Integer exitStatus;

    private ApplianceProcess(final Process process, final Path log)
    {
        this.process = process;
        this.log = log;
        final Thread reader = new Thread(this::copyOutput, "appliance-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts the appliance and waits for its ready line; throws (after stopping it) if it never comes. */
    static ApplianceProcess start(final Path config, final Path log, final Duration readyTimeout) throws IOException
    {
        return start(config, log, readyTimeout, Map.of());
    }

    /** As {@link #start(Path, Path, Duration)}, with {@code env} added to the process's environment. */
    static ApplianceProcess start(final Path config, final Path log, final Duration readyTimeout, final Map<String, String> env)
        throws IOException
    {
        final String java = ProcessHandle.current().info().command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final ProcessBuilder builder = new ProcessBuilder(
            java, "-cp", System.getProperty("java.class.path"), MAIN_CLASS, "serve", "--config", config.toString())
            .directory(config.getParent().toFile())
            .redirectErrorStream(true)
            .redirectInput(ProcessBuilder.Redirect.PIPE);
        builder.environment().putAll(env);
        final ApplianceProcess appliance = new ApplianceProcess(builder.start(), log);
        try
        {
            appliance.ready.get(readyTimeout.toMillis(), TimeUnit.MILLISECONDS);
        }
        catch (final Exception e)
        {
            if (e instanceof InterruptedException)
            {
                Thread.currentThread().interrupt();
            }
            final boolean exited = appliance.exitedWithin(Duration.ofSeconds(2));
            appliance.close();
            throw new IllegalStateException("appliance did not print '" + READY + "' "
                + (exited ? "(it exited with status " + appliance.exitStatus + ")" : "within " + readyTimeout.toSeconds() + " s")
                + "; log " + log + ":\n" + appliance.outputTail(40), e);
        }
        return appliance;
    }

    private void copyOutput()
    {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8), true))
        {
            String line;
            while ((line = in.readLine()) != null)
            {
                out.println(line);
                synchronized (this)
                {
                    output.add(line);
                    Matcher m;
                    if ((m = LISTENING.matcher(line)).find())
                    {
                        ports.put(m.group(3), Integer.valueOf(m.group(2)));
                    }
                    else if ((m = SUBSYSTEM.matcher(line)).find())
                    {
                        subsystems.put(m.group(1), Integer.valueOf(m.group(2)));
                    }
                    else if ((m = API.matcher(line)).find())
                    {
                        apiUrl = m.group(1);
                    }
                }
                if (line.strip().equals(READY))
                {
                    ready.complete(null);
                }
            }
        }
        catch (final IOException e)
        {
            ready.completeExceptionally(e);
        }
        ready.completeExceptionally(new IllegalStateException("appliance output ended before ready"));
    }

    private boolean exitedWithin(final Duration wait)
    {
        try
        {
            return process.waitFor(wait.toMillis(), TimeUnit.MILLISECONDS);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** SIGKILL: the process dies at once, whatever it was doing (what a crash does). */
    void kill() throws InterruptedException
    {
        process.destroyForcibly();
        process.waitFor(20, TimeUnit.SECONDS);
    }

    synchronized int port(final String kind)
    {
        final Integer port = ports.get(kind);
        if (port == null)
        {
            throw new IllegalStateException("appliance printed no 'listening ... nvme-tcp " + kind + "' line:\n" + outputTail(40));
        }
        return port;
    }

    /** The REST API's base URL, e.g. {@code http://127.0.0.1:41234}. */
    synchronized String apiUrl()
    {
        if (apiUrl == null)
        {
            throw new IllegalStateException("appliance printed no 'vvolgate: api <url>' line:\n" + outputTail(40));
        }
        return apiUrl;
    }

    synchronized Map<String, Integer> subsystems()
    {
        return Map.copyOf(subsystems);
    }

    /**
     * Sends SIGTERM and waits for a clean exit; kills the process tree after the grace period.
     * Returns the exit status, or -1 if it had to be killed.
     */
    int stop(final Duration grace) throws InterruptedException
    {
        if (exitStatus != null)
        {
            return exitStatus;
        }
        process.destroy(); // SIGTERM on Linux
        if (process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS))
        {
            exitStatus = process.exitValue();
        }
        else
        {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            exitStatus = -1;
        }
        return exitStatus;
    }

    synchronized String outputTail(final int count)
    {
        return String.join("\n", output.subList(Math.max(0, output.size() - count), output.size()));
    }

    Path log()
    {
        return log;
    }

    @Override
    public void close()
    {
        try
        {
            stop(Duration.ofSeconds(20));
        }
        catch (final InterruptedException e)
        {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
