package io.vvolgate.control.cli;

import io.vvolgate.control.config.ByteSize;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.Locale;

/** How values read in tables: sizes in binary units, shortened IDs, times to the second. */
final class Human {
    /** A UUID (or the UUID inside an ID such as {@code host-<uuid>}) is shown with this many hex digits. */
    static final int SHORT_UUID = 8;
    private static final String[] UNITS = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    private Human() {
    }

    /** {@code 1073741824} → {@code "1.0 GiB"}, {@code 512} → {@code "512 B"}. */
    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        int unit = 0;
        double v = bytes;
        while (v >= 1024 && unit < UNITS.length - 1) {
            v /= 1024;
            unit++;
        }
        // 1023.96 MiB would print as "1024.0 MiB"; move it up a unit.
        if (Math.round(v * 10) >= 10240 && unit < UNITS.length - 1) {
            v /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, UNITS[unit]);
    }

    /** Reads a size the way an operator writes one: {@code 10GiB}, {@code 512M}, {@code 4096}. */
    static long parseSize(String text, String what) {
        return ByteSize.parse(text).orElseThrow(() -> CtlException.usage(what + " \"" + text
                + "\" is not a size: write bytes or a whole number with KiB, MiB, GiB or TiB (e.g. 10GiB)"));
    }

    /**
     * The ID cut to its first {@value #SHORT_UUID} hex digits after any prefix ({@code host-857c7d6e}). IDs
     * that are not UUID-based ({@code alarm-3}, {@code pe-default-1}) stay whole.
     */
    static String shortId(String id) {
        if (id == null) {
            return "-";
        }
        int dash = -1;
        // A UUID is 36 characters at the end of the ID.
        if (id.length() >= 36 && id.charAt(id.length() - 28) == '-') {
            dash = id.length() - 36;
        }
        return dash < 0 ? id : id.substring(0, dash + SHORT_UUID);
    }

    /** {@code 2026-11-24T09:51:06.5213Z} → {@code 2026-11-24 09:51:06Z}; anything else as it came. */
    static String time(String iso) {
        if (iso == null) {
            return "-";
        }
        try {
            String s = Instant.parse(iso).truncatedTo(ChronoUnit.SECONDS).toString();
            return s.replace('T', ' ');
        } catch (DateTimeParseException e) {
            return iso;
        }
    }

    /** 0..1 → {@code "45%"}. */
    static String percent(double fraction) {
        return Math.round(fraction * 100) + "%";
    }

    static String yesNo(Boolean b) {
        return b == null ? "-" : b ? "yes" : "no";
    }

    static String orDash(Object o) {
        return o == null || o.toString().isEmpty() ? "-" : o.toString();
    }
}
