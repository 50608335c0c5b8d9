package io.vvolgate.control.cli;

import io.vertx.core.json.JsonObject;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/** What every {@code ctl} command has: {@code --json}, {@code --wide}, the streams and the API. */
abstract class CtlCommand implements Callable<Integer> {

    /** The output options, mixed into every command. */
    static final class Output {
        @Option(names = "--json", description = "print the API's JSON instead of a table")
        boolean json;

        @Option(names = "--wide", description = "full IDs and more columns")
        boolean wide;
    }

    @Spec
    CommandSpec spec;

    @Mixin
    Output output;

    Ctl ctl() {
        return (Ctl) spec.root().userObject();
    }

    ApiClient api() {
        return ctl().api();
    }

    Names names() {
        return new Names(api());
    }

    PrintStream out() {
        return ctl().out;
    }

    boolean json() {
        return output.json;
    }

    boolean wide() {
        return output.wide;
    }

    String id(String id) {
        return wide() ? id : Human.shortId(id);
    }

    ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    @Override
    public final Integer call() {
        execute();
        return 0;
    }

    abstract void execute();

    /** Prints a task; with {@code wait}, first follows it to its end (and fails the command if it failed). */
    void printTask(JsonObject task, boolean wait) {
        if (wait) {
            task = Tasks.await(ctl(), api(), task);
        }
        if (json()) {
            ctl().printJson(task);
            return;
        }
        Tasks.fields(task, this).print(out());
        if (!wait && "running".equals(task.getString("state"))) {
            out().println("follow it with: vvolgate ctl task show " + id(task.getString("id")) + " --wait");
        }
    }

    /** Usage error from a parent command invoked without a subcommand. */
    static void needSubcommand(CommandSpec spec) {
        throw new ParameterException(spec.commandLine(), "say what to do: " + String.join(", ",
                spec.subcommands().values().stream().map(c -> c.getCommandName()).distinct().filter(n -> !n.equals("help")).toList()));
    }
}
