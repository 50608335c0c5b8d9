package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vvolgate.control.Appliance;
import io.vvolgate.control.config.ConfigParser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vvolgate ctl} against a running appliance, as an operator uses it: log in, make and change volumes,
 * bind them, and read the tables; refusals, usage errors and a missing session give their exit status and
 * one line that says why.
 */
@Timeout(60)
class CtlTest {
    @TempDir
    static Path dir;
    static Appliance appliance;
    static String adminPassword;
    static Path loginFile;

    record Result(int exit, String out, String err) {
        JsonObject object() {
            return new JsonObject(out);
        }

        JsonArray array() {
            return new JsonArray(out);
        }
    }

    @BeforeAll
    static void start() throws Exception {
        var config = ConfigParser.parse("""
                state_dir = "var"
                [api]
                port = 0
                [[listener]]
                address = "127.0.0.1"
                port = 0
                kind = "io"
                [[container]]
                name = "default"
                devices = ["a.img"]
                size = "256MiB"
                """, "ctl.toml", dir);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        appliance = Appliance.start(config, new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
        Matcher m = Pattern.compile("vvolgate: admin password (\\S+)").matcher(out.toString(StandardCharsets.UTF_8));
        assertTrue(m.find(), "the first start prints the admin password");
        adminPassword = m.group(1);
        loginFile = dir.resolve("home/ctl.json");
        Result login = run(loginFile, adminPassword + "\n", "login", "--url", appliance.apiUrl(), "--password-stdin");
        assertEquals(0, login.exit(), login.err());
    }

    @AfterAll
    static void stop() {
        if (appliance != null) {
            appliance.close();
        }
    }

    static Result run(Path config, String stdin, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Map<String, String> env = new HashMap<>();
        env.put(StoredLogin.CONFIG_ENV, config.toString());
        InputStream in = new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8));
        int exit = Ctl.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                env, in, null);
        return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Result ctl(String... args) {
        return run(loginFile, "", args);
    }

    static Result ok(String... args) {
        Result r = ctl(args);
        assertEquals(0, r.exit(), () -> String.join(" ", args) + ": " + r.err());
        return r;
    }

    @Test
    void loginKeepsTheSessionInAFileOnlyItsOwnerReads() throws Exception {
        Path file = dir.resolve("other/login.json");
        Result r = run(file, adminPassword + "\n", "login", "--url", appliance.apiUrl(), "--user", "admin", "--password-stdin");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("logged in to " + appliance.apiUrl() + " as admin (admin)"), r.out());
        assertEquals(PosixFilePermissions.fromString("rw-------"), Files.getPosixFilePermissions(file));
        Result session = run(file, "", "session");
        assertTrue(session.out().contains("User:       admin"), session.out());

        assertEquals(0, run(file, "", "logout").exit());
        Result after = run(file, "", "vvol", "list");
        assertEquals(3, after.exit());
        assertTrue(after.err().contains("not logged in"), after.err());
    }

    @Test
    void aWrongPasswordIsRefusedAndNothingIsKept() {
        Path file = dir.resolve("wrong/login.json");
        Result r = run(file, "not-the-password\n", "login", "--url", appliance.apiUrl(), "--password-stdin");
        assertEquals(3, r.exit(), r.err());
        assertFalse(Files.exists(file));
    }

    @Test
    void withoutASessionEveryCommandSaysLogIn() {
        Result r = run(dir.resolve("nobody/ctl.json"), "", "vvol", "list");
        assertEquals(3, r.exit());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("vvolgate ctl: not logged in (not_logged_in)"), r.err());
        assertTrue(r.err().contains("vvolgate ctl login"), r.err());
    }

    @Test
    void anEndedSessionSaysLogInAgain() throws Exception {
        Path file = dir.resolve("ended/ctl.json");
        new StoredLogin(appliance.apiUrl(), "admin", "no-such-token", null, false).save(file);
        Result r = run(file, "", "container", "list");
        assertEquals(3, r.exit());
        assertTrue(r.err().contains("(unauthenticated)"), r.err());
        assertTrue(r.err().contains("vvolgate ctl login"), r.err());
    }

    @Test
    void aVolumeFromCreationToDeletion() {
        ok("profile", "create", "life-gold", "--iops-limit", "5000", "--snapshot-retention", "8");
        Result created = ok("vvol", "create", "default/life", "--size", "16MiB", "--profile", "life-gold", "--meta", "vm=web01");
        assertTrue(created.out().contains("Size:          16.0 MiB (16777216 bytes)"), created.out());
        assertTrue(created.out().contains("Profile:       life-gold"), created.out());

        Result list = ok("vvol", "list", "--container", "default");
        String row = list.out().lines().filter(l -> l.startsWith("life ")).findFirst().orElseThrow(() -> new AssertionError(list.out()));
        assertTrue(row.contains("16.0 MiB") && row.contains("life-gold") && row.contains("volume"), row);
        assertTrue(list.out().startsWith("NAME"), list.out());

        Result snap = ok("vvol", "snapshot", "life", "--name", "life-s1");
        assertTrue(snap.out().contains("Kind:          snapshot"), snap.out());
        Result linked = ok("vvol", "clone", "default/life-s1", "life-linked");
        assertTrue(linked.out().contains("Parent:        life-s1"), linked.out());

        Result full = ok("vvol", "clone", "life", "life-full", "--full", "--wait");
        assertTrue(full.out().contains("State:          success"), full.out());
        assertTrue(ok("vvol", "list", "--name", "life-full").out().contains("life-full"));

        Result grown = ok("vvol", "resize", "life", "32MiB");
        assertTrue(grown.out().startsWith("resized life to 32.0 MiB"), grown.out());

        ok("vvol", "metadata", "set", "life", "owner=ops", "tier=1", "--unset", "vm");
        assertEquals("ops\n1\n", ok("vvol", "metadata", "get", "life", "owner", "tier").out());
        assertFalse(ok("vvol", "metadata", "get", "life").out().contains("web01"));

        ok("host", "register", "esx-life", "nqn.2014-08.org.example:esx-life");
        Result bound = ok("vvol", "bind", "life", "--host", "esx-life");
        assertTrue(bound.out().contains("through protocol endpoint pe-default-1"), bound.out());
        assertTrue(ok("vvol", "list", "--bound").out().lines().anyMatch(l -> l.startsWith("life ") && l.endsWith("esx-life")));
        assertTrue(ok("host", "show", "esx-life").out().contains("Bound vvols:  1"));

        Result refused = ctl("vvol", "delete", "life");
        assertEquals(1, refused.exit());
        assertTrue(refused.err().startsWith("vvolgate ctl: ") && refused.err().contains("(vvol_bound)"), refused.err());

        ok("vvol", "unbind", "life", "--host", "esx-life");
        assertTrue(ok("vvol", "compliance", "life").out().contains("Compliant:  yes"));
        Result deleted = ok("vvol", "delete", "life-linked", "--wait");
        assertTrue(deleted.out().contains("deleteVirtualVolume"), deleted.out());
        assertFalse(ok("vvol", "list").out().contains("life-linked"));
        ok("host", "unregister", "esx-life");
    }

    @Test
    void aRefusalExitsOneWithTheAppliancesSentence() {
        ok("vvol", "create", "taken", "--size", "1MiB");
        Result again = ctl("vvol", "create", "taken", "--size", "1MiB");
        assertEquals(1, again.exit());
        assertEquals("vvolgate ctl: storage container default already has a virtual volume named \"taken\" (name_taken)\n", again.err());
        assertEquals("", again.out());
    }

    @Test
    void jsonIsTheApisOwn() {
        ok("vvol", "create", "json-vol", "--size", "2MiB");
        JsonArray all = ok("vvol", "list", "--name", "json-vol", "--json").array();
        assertEquals(1, all.size());
        JsonObject one = all.getJsonObject(0);
        assertEquals(2L << 20, one.getLong("sizeBytes"));
        JsonObject shown = ok("vvol", "show", one.getString("id"), "--json").object();
        assertEquals("json-vol", shown.getString("name"));
        // The short ID a table shows names the volume too.
        assertEquals(one.getString("id"), ok("vvol", "show", Human.shortId(one.getString("id")), "--json").object().getString("id"));
        assertTrue(ok("container", "list", "--json").array().getJsonObject(0).containsKey("space"));
    }

    @Test
    void aBadCommandLineExitsTwo() {
        Result size = ctl("vvol", "create", "x", "--size", "10GB");
        assertEquals(2, size.exit());
        assertTrue(size.err().startsWith("vvolgate ctl: --size \"10GB\" is not a size"), size.err());
        assertEquals(2, ctl("vvol", "lst").exit());
        assertEquals(2, ctl("vvol").exit());
        assertEquals(2, ctl("vvol", "bind", "x").exit(), "--host is required");
    }

    @Test
    void everyOperationOfTheApiHasACommand() throws Exception {
        String doc;
        try (InputStream in = io.vvolgate.control.api.ApiServer.class.getResourceAsStream("openapi.yaml")) {
            doc = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Set<String> operations = new TreeSet<>();
        Matcher m = Pattern.compile("operationId: (\\w+)").matcher(doc);
        while (m.find()) {
            operations.add(m.group(1));
        }
        assertTrue(operations.size() > 40, operations::toString);
        StringBuilder help = new StringBuilder();
        collect(new Ctl(System.out, System.err, Map.of(), InputStream.nullInputStream(), null).commandLine(), help);
        Set<String> missing = new TreeSet<>();
        for (String op : operations) {
            if (!help.toString().contains("[" + op + "]")) {
                missing.add(op);
            }
        }
        assertEquals(Set.of(), missing, "operations without a command (its help names the operation in brackets)");
    }

    private static void collect(CommandLine cl, StringBuilder help) {
        help.append(String.join(" ", cl.getCommandSpec().usageMessage().description())).append('\n');
        cl.getSubcommands().values().forEach(c -> collect(c, help));
    }
}
