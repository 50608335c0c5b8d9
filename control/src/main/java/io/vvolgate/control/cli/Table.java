package io.vvolgate.control.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * A table for a terminal: a header row in capitals, columns padded to their widest cell and two spaces
 * apart, numbers aligned right. Nothing is cut: {@code --json} is there for programs, and a wide table is
 * better than a wrong one.
 */
final class Table {
    private final List<String> headers = new ArrayList<>();
    private final List<Boolean> rightAligned = new ArrayList<>();
    private final List<String[]> rows = new ArrayList<>();

    /** A left-aligned column. */
    Table left(String header) {
        headers.add(header);
        rightAligned.add(false);
        return this;
    }

    /** A right-aligned column, for numbers and sizes. */
    Table right(String header) {
        headers.add(header);
        rightAligned.add(true);
        return this;
    }

    Table row(Object... cells) {
        if (cells.length != headers.size()) {
            throw new IllegalArgumentException(cells.length + " cells for " + headers.size() + " columns");
        }
        String[] r = new String[cells.length];
        for (int i = 0; i < cells.length; i++) {
            r[i] = Human.orDash(cells[i]);
        }
        rows.add(r);
        return this;
    }

    int size() {
        return rows.size();
    }

    /** Prints the table, or {@code empty} alone if it has no rows. */
    void print(PrintStream out, String empty) {
        if (rows.isEmpty()) {
            out.println(empty);
            return;
        }
        int[] width = new int[headers.size()];
        for (int i = 0; i < width.length; i++) {
            width[i] = headers.get(i).length();
            for (String[] r : rows) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        line(out, headers.toArray(String[]::new), width);
        rows.forEach(r -> line(out, r, width));
    }

    private void line(PrintStream out, String[] cells, int[] width) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            boolean last = i == cells.length - 1;
            String pad = " ".repeat(width[i] - cells[i].length());
            if (rightAligned.get(i)) {
                b.append(pad).append(cells[i]);
            } else {
                b.append(cells[i]);
                if (!last) {
                    b.append(pad);
                }
            }
            if (!last) {
                b.append("  ");
            }
        }
        out.println(b);
    }
}
