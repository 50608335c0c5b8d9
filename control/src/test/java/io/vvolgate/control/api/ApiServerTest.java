package io.vvolgate.control.api;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What an operator sees at {@code /} when the build left the console out. (The HTTP route itself is
 * exercised by the full build, where the console is present; this checks the page it falls back to.)
 */
class ApiServerTest {

    @Test
    void withoutTheConsoleTheRootPageSaysWhyAndWhatStillWorks() throws IOException {
        String page = ApiServer.consoleNotBuiltPage();
        assertTrue(page.startsWith("<!doctype html>"), page);
        assertTrue(page.contains("The web console is not built into this appliance"), page);
        assertTrue(page.contains("/api/openapi.yaml") && page.contains("/metrics"), "what still works: " + page);
        assertTrue(page.contains("Node.js 20.19 or newer"), "what would build it: " + page);

        // The reason is the one the build recorded (the launcher passes which node it found).
        Properties p = new Properties();
        try (InputStream in = ApiServer.class.getClassLoader().getResourceAsStream(ApiServer.CONSOLE_PROPERTIES)) {
            assertNotNull(in, "the build writes " + ApiServer.CONSOLE_PROPERTIES);
            p.load(new java.io.InputStreamReader(in, StandardCharsets.UTF_8));
        }
        String reason = p.getProperty("skipReason");
        assertFalse(reason.contains("${"), "the property is filtered: " + reason);
        assertTrue(page.contains("Why: " + reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("\"", "&quot;") + "."), page);
    }
}
