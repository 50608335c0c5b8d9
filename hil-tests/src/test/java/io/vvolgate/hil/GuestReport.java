package io.vvolgate.hil;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one boot of the rig's guest reported on its serial console, parsed from the marker lines that
 * {@code guest/init} and {@code guest/nvme-tcp-suite.sh} print:
 *
 * <pre>
 *   RIG-PLAN step step ...        RIG-STEP step PASS|FAIL detail     RIG-LOG step: line
 *   RIG-VALUE key value           RIG-RESULT PASS|FAIL               RIG-EXIT status   RIG-POWEROFF
 *   RIG-CHECKPOINT name           the guest waits for the test to act (see {@link #checkpointIn})
 * </pre>
 *
 * Markers are matched anywhere in a line: a kernel message can land in front of one on the shared
 * console. Built by the thread reading the console; read after the boot has ended.
 */
final class GuestReport
{
    record Step(String name, boolean passed, String detail) {}

    private static final Pattern PLAN = Pattern.compile("RIG-PLAN((?: [\\w.-]+)*)\\s*$");
    private static final Pattern STEP = Pattern.compile("RIG-STEP ([\\w.-]+) (PASS|FAIL) ?(.*)$");
    private static final Pattern LOG = Pattern.compile("RIG-LOG ([\\w.-]+): (.*)$");
    private static final Pattern VALUE = Pattern.compile("RIG-VALUE ([\\w.-]+) (\\S+)\\s*$");
    private static final Pattern RESULT = Pattern.compile("RIG-RESULT (PASS|FAIL)");
    private static final Pattern EXIT = Pattern.compile("RIG-EXIT (\\d+)");
    private static final Pattern CHECKPOINT = Pattern.compile("RIG-CHECKPOINT ([\\w.-]+)\\s*$");

    private final List<String> plan = new ArrayList<>();
    private final Map<String, Step> steps = new LinkedHashMap<>();
    private final Map<String, List<String>> logs = new LinkedHashMap<>();
    private final Map<String, String> values = new LinkedHashMap<>();
    private final List<String> lines = new ArrayList<>();
    private final List<String> checkpoints = new ArrayList<>();
    private String result;
    private Integer scriptExit;
    private boolean poweredOff;

    void accept(final String line)
    {
        lines.add(line);
        Matcher m;
        if ((m = STEP.matcher(line)).find())
        {
            steps.put(m.group(1), new Step(m.group(1), "PASS".equals(m.group(2)), m.group(3).strip()));
        }
        else if ((m = LOG.matcher(line)).find())
        {
            logs.computeIfAbsent(m.group(1), k -> new ArrayList<>()).add(m.group(2));
        }
        else if ((m = VALUE.matcher(line)).find())
        {
            values.put(m.group(1), m.group(2));
        }
        else if ((m = PLAN.matcher(line)).find())
        {
            plan.clear();
            plan.addAll(List.of(m.group(1).strip().split("\\s+")));
        }
        else if ((m = RESULT.matcher(line)).find())
        {
            result = m.group(1);
        }
        else if ((m = EXIT.matcher(line)).find())
        {
            scriptExit = Integer.valueOf(m.group(1));
        }
        else if ((m = CHECKPOINT.matcher(line)).find())
        {
            checkpoints.add(m.group(1));
        }
        else if (line.contains("RIG-POWEROFF"))
        {
            poweredOff = true;
        }
    }

    /**
     * The checkpoint a console line announces, if it is a {@code RIG-CHECKPOINT} line: the guest has
     * reached a point where the test acts on the appliance (through its API) and then polls for the
     * effect. The console is the only channel from guest to test; the guest sees the test's answer only
     * through what the appliance does.
     */
    static Optional<String> checkpointIn(final String line)
    {
        final Matcher m = CHECKPOINT.matcher(line);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    /** Checkpoints the guest announced, in order. */
    List<String> checkpoints()
    {
        return checkpoints;
    }

    /** Planned steps first (in order), then any step reported without being planned. */
    Set<String> stepNames()
    {
        final Set<String> names = new LinkedHashSet<>(plan);
        names.addAll(steps.keySet());
        return names;
    }

    List<String> plan()
    {
        return plan;
    }

    Optional<Step> step(final String name)
    {
        return Optional.ofNullable(steps.get(name));
    }

    List<String> log(final String step)
    {
        return logs.getOrDefault(step, List.of());
    }

    Optional<String> value(final String key)
    {
        return Optional.ofNullable(values.get(key));
    }

    Optional<String> result()
    {
        return Optional.ofNullable(result);
    }

    Optional<Integer> scriptExit()
    {
        return Optional.ofNullable(scriptExit);
    }

    boolean poweredOff()
    {
        return poweredOff;
    }

    List<String> lines()
    {
        return lines;
    }

    String tail(final int count)
    {
        return String.join("\n", lines.subList(Math.max(0, lines.size() - count), lines.size()));
    }
}
