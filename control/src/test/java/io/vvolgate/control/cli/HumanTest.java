package io.vvolgate.control.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class HumanTest {
    @Test
    void sizesReadInBinaryUnits() {
        assertEquals("512 B", Human.size(512));
        assertEquals("1.0 KiB", Human.size(1024));
        assertEquals("1.0 GiB", Human.size(1L << 30));
        assertEquals("247.9 MiB", Human.size(259981312));
        assertEquals("1.0 GiB", Human.size((1L << 30) - 1), "not 1024.0 MiB");
    }

    @Test
    void sizesAreWrittenAsInTheConfiguration() {
        assertEquals(10L << 30, Human.parseSize("10GiB", "--size"));
        assertEquals(512L << 20, Human.parseSize("512M", "--size"));
        assertEquals(4096, Human.parseSize("4096", "--size"));
        CtlException e = assertThrows(CtlException.class, () -> Human.parseSize("1.5GiB", "--size"));
        assertEquals(CtlException.EXIT_USAGE, e.exitCode());
    }

    @Test
    void idsAreShortenedToTheirFirstEightHexDigits() {
        assertEquals("ddeec860", Human.shortId("ddeec860-3232-475f-a04b-494f620106a5"));
        assertEquals("host-857c7d6e", Human.shortId("host-857c7d6e-cef5-478e-9764-883091e00d8e"));
        assertEquals("pe-default-1", Human.shortId("pe-default-1"));
        assertEquals("alarm-3", Human.shortId("alarm-3"));
    }

    @Test
    void timesToTheSecond() {
        assertEquals("2026-11-24 09:51:06Z", Human.time("2026-11-24T09:51:06.521420354Z"));
        assertEquals("-", Human.time(null));
    }
}
