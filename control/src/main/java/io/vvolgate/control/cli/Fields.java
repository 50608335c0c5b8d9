package io.vvolgate.control.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** One object as aligned {@code label: value} lines, for {@code show} and for what a change returns. */
final class Fields {
    private record Field(String label, String value) {
    }

    private final List<Field> fields = new ArrayList<>();

    Fields add(String label, Object value) {
        fields.add(new Field(label, Human.orDash(value)));
        return this;
    }

    void print(PrintStream out) {
        int width = fields.stream().mapToInt(f -> f.label.length()).max().orElse(0) + 1;
        for (Field f : fields) {
            out.println((f.label + ":" + " ".repeat(width - f.label.length())) + " " + f.value);
        }
    }
}
