package io.vvolgate.control.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TableTest {
    static String print(Table t, String empty) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        t.print(new PrintStream(b, true, StandardCharsets.UTF_8), empty);
        return b.toString(StandardCharsets.UTF_8);
    }

    @Test
    void columnsLineUpAndNumbersAlignRight() {
        Table t = new Table().left("NAME").right("SIZE").left("BOUND TO");
        t.row("vm1", "16.0 MiB", "esx1");
        t.row("a-longer-name", "1.0 GiB", null);
        assertEquals("""
                NAME               SIZE  BOUND TO
                vm1            16.0 MiB  esx1
                a-longer-name   1.0 GiB  -
                """, print(t, "none"));
    }

    @Test
    void anEmptyTableSaysSo() {
        assertEquals("no virtual volumes\n", print(new Table().left("NAME"), "no virtual volumes"));
    }
}
