package io.vvolgate.control.cli;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Turns what an operator types into the IDs the API wants, and IDs back into names for tables. An object
 * is named by its full ID, by a prefix of its ID as tables print them ({@code ddeec860},
 * {@code host-857c7d6e}) if only one ID has it, or by its name; a virtual volume also by
 * {@code container/name}. Ambiguity is an error that lists the candidates, never a guess.
 */
final class Names {
    private static final Pattern UUID = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
    /** A shorter prefix would match too much by accident. */
    private static final int MIN_PREFIX = 4;

    private final ApiClient api;
    private JsonArray containers;
    private JsonArray profiles;
    private JsonArray hosts;

    Names(ApiClient api) {
        this.api = api;
    }

    // ---- IDs from what the operator typed ----

    /** A virtual volume (or snapshot, or clone): ID, ID prefix, name, or container/name. */
    String vvol(String ref) {
        if (UUID.matcher(ref).matches()) {
            return ref;
        }
        int slash = ref.indexOf('/');
        if (slash > 0) {
            String container = ref.substring(0, slash);
            String name = ref.substring(slash + 1);
            JsonArray found = api.getArray("/api/vvols", ApiClient.query("container", container(container), "q", name));
            List<JsonObject> exact = objects(found).stream().filter(v -> name.equals(v.getString("name"))).toList();
            if (exact.isEmpty()) {
                throw CtlException.refused("vvol_not_found", "storage container " + container + " has no virtual volume named \""
                        + name + "\"");
            }
            return exact.getFirst().getString("id");
        }
        List<JsonObject> all = objects(api.getArray("/api/vvols"));
        return pick(all, ref, "virtual volume", "vvol_not_found", v -> containerName(v.getString("containerId")) + "/" + v.getString("name"));
    }

    /** A capability profile: ID, ID prefix or name. */
    String profile(String ref) {
        return pick(objects(profiles()), ref, "capability profile", "profile_not_found", p -> p.getString("name"));
    }

    /** A host: ID, ID prefix, name or NQN. */
    String host(String ref) {
        for (JsonObject h : objects(hosts())) {
            if (ref.equals(h.getString("nqn"))) {
                return h.getString("id");
            }
        }
        return pick(objects(hosts()), ref, "host", "host_not_found", h -> h.getString("name"));
    }

    /** A storage container: ID, ID prefix or name. */
    String container(String ref) {
        return pick(objects(containers()), ref, "storage container", "container_not_found", c -> c.getString("name"));
    }

    /** A task: ID or ID prefix (with or without {@code task-}). */
    String task(String ref) {
        String r = ref.startsWith("task-") ? ref : "task-" + ref;
        return pick(objects(api.getArray("/api/tasks")), r, "task", "task_not_found", t -> t.getString("id"));
    }

    /**
     * The one object whose ID is {@code ref}, else whose name is, else whose ID starts with it. Several
     * with the name, or several IDs with the prefix, is an error naming them.
     */
    private static String pick(List<JsonObject> all, String ref, String what, String notFound,
            java.util.function.Function<JsonObject, String> label) {
        for (JsonObject o : all) {
            if (ref.equals(o.getString("id"))) {
                return ref;
            }
        }
        List<JsonObject> byName = all.stream().filter(o -> ref.equals(o.getString("name"))).toList();
        if (byName.size() == 1) {
            return byName.getFirst().getString("id");
        }
        if (byName.size() > 1) {
            throw ambiguous(ref, what, byName, label);
        }
        List<JsonObject> byPrefix = ref.length() < MIN_PREFIX ? List.of() : all.stream()
                .filter(o -> o.getString("id").toLowerCase(Locale.ROOT).startsWith(ref.toLowerCase(Locale.ROOT))).toList();
        if (byPrefix.size() == 1) {
            return byPrefix.getFirst().getString("id");
        }
        if (byPrefix.size() > 1) {
            throw ambiguous(ref, what, byPrefix, label);
        }
        throw CtlException.refused(notFound, "there is no " + what + " with the ID or name \"" + ref + "\"");
    }

    private static CtlException ambiguous(String ref, String what, List<JsonObject> candidates,
            java.util.function.Function<JsonObject, String> label) {
        List<String> names = new ArrayList<>();
        for (JsonObject o : candidates) {
            names.add(label.apply(o) + " (" + o.getString("id") + ")");
        }
        return CtlException.refused("ambiguous", "\"" + ref + "\" names more than one " + what + ": " + String.join(", ", names)
                + "; give the ID" + (what.equals("virtual volume") ? " or container/name" : ""));
    }

    // ---- names for IDs, for tables ----

    String containerName(String id) {
        return nameOf(containers(), id);
    }

    String profileName(String id) {
        return id == null ? null : nameOf(profiles(), id);
    }

    String hostName(String id) {
        return nameOf(hosts(), id);
    }

    private static String nameOf(JsonArray all, String id) {
        for (JsonObject o : objects(all)) {
            if (o.getString("id").equals(id)) {
                return o.getString("name");
            }
        }
        return Human.shortId(id);
    }

    /** Names of all volumes by ID, for parents and bindings. */
    Map<String, String> vvolNames() {
        Map<String, String> m = new HashMap<>();
        objects(api.getArray("/api/vvols")).forEach(v -> m.put(v.getString("id"), v.getString("name")));
        return m;
    }

    JsonArray containers() {
        if (containers == null) {
            containers = api.getArray("/api/containers");
        }
        return containers;
    }

    JsonArray profiles() {
        if (profiles == null) {
            profiles = api.getArray("/api/profiles");
        }
        return profiles;
    }

    JsonArray hosts() {
        if (hosts == null) {
            hosts = api.getArray("/api/hosts");
        }
        return hosts;
    }

    static List<JsonObject> objects(JsonArray a) {
        List<JsonObject> l = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            l.add(a.getJsonObject(i));
        }
        return l;
    }
}
