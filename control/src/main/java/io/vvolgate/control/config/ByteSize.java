package io.vvolgate.control.config;

import java.util.Locale;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes as an administrator writes them: a number of bytes, or a whole number with a binary unit
 * (KiB MiB GiB TiB, or K M G T meaning the same). Decimal units (GB) and fractions are refused rather than
 * guessed: a namespace that is 7% smaller than intended is a nasty surprise.
 */
public final class ByteSize {

    private static final Pattern SIZE = Pattern.compile("\\s*(\\d+)\\s*(?:([KMGT])(?:iB)?)?\\s*",
            Pattern.CASE_INSENSITIVE);

    private ByteSize() {
    }

    /** The number of bytes {@code text} means, or empty if it is not a size or does not fit in a long. */
    public static OptionalLong parse(String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) {
            return OptionalLong.empty();
        }
        int shift = m.group(2) == null ? 0 : switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            default -> 40;
        };
        try {
            long n = Long.parseLong(m.group(1));
            if (n > (Long.MAX_VALUE >> shift)) {
                return OptionalLong.empty();
            }
            return OptionalLong.of(n << shift);
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** The shortest exact spelling: 1073741824 → "1GiB", 1536 → "1536". For messages. */
    public static String format(long bytes) {
        String[] units = {"TiB", "GiB", "MiB", "KiB"};
        int[] shifts = {40, 30, 20, 10};
        for (int i = 0; i < units.length; i++) {
            long unit = 1L << shifts[i];
            if (bytes >= unit && bytes % unit == 0) {
                return (bytes >> shifts[i]) + units[i];
            }
        }
        return Long.toString(bytes);
    }
}
