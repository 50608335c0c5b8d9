package io.vvolgate.control.config;

import java.util.List;

/**
 * A configuration was refused. Each problem is one line, {@code file:line: what is wrong}, meant for the
 * administrator who wrote the file; they are in file order.
 */
public final class ConfigException extends Exception {

    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super(String.join("\n", problems));
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("a refused configuration names at least one problem");
        }
        this.problems = List.copyOf(problems);
    }

    public ConfigException(String problem) {
        this(List.of(problem));
    }

    public List<String> problems() {
        return problems;
    }
}
