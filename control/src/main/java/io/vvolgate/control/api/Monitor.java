package io.vvolgate.control.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Events (what happened: a fact with a time, kept in memory, the newest {@link #KEPT}) and alarms (a
 * condition that is true now and needs an operator: raised once while it lasts, cleared when it ends,
 * acknowledged by an operator). Alarms are re-derived from the state every monitoring tick, so after a
 * restart the ones still true are raised again.
 */
final class Monitor {
    static final int KEPT = 10_000;
    private final ArrayDeque<JsonObject> events = new ArrayDeque<>();
    private final AtomicLong nextEvent = new AtomicLong(1);
    /** Alarms by key (type + object), oldest first; cleared ones stay listed as inactive. */
    private final Map<String, JsonObject> alarms = new LinkedHashMap<>();
    private final AtomicLong nextAlarm = new AtomicLong(1);

    synchronized void event(String severity, String type, String objectId, String message) {
        events.addLast(new JsonObject().put("id", nextEvent.getAndIncrement()).put("time", Instant.now().toString())
                .put("severity", severity).put("type", type).put("objectId", objectId).put("message", message));
        if (events.size() > KEPT) {
            events.removeFirst();
        }
    }

    synchronized JsonArray events(long since, int limit) {
        JsonArray out = new JsonArray();
        for (JsonObject e : events) {
            if (e.getLong("id") > since && out.size() < limit) {
                out.add(e.copy());
            }
        }
        return out;
    }

    /** Raises the alarm of {@code key} unless it is active already; an event says so. */
    synchronized void raise(String key, String severity, String type, String objectId, String message) {
        JsonObject a = alarms.get(key);
        if (a != null && a.getBoolean("active")) {
            if (!a.getString("severity").equals(severity)) {
                a.put("severity", severity).put("message", message);
                event(severity, type, objectId, message);
            }
            return;
        }
        alarms.remove(key);
        alarms.put(key, new JsonObject().put("id", "alarm-" + nextAlarm.getAndIncrement()).put("raisedAt", Instant.now().toString())
                .putNull("clearedAt").put("severity", severity).put("type", type).put("objectId", objectId).put("message", message)
                .put("active", true).put("acknowledged", false));
        event(severity, type, objectId, message);
    }

    /** Clears the alarm of {@code key} if it is active. */
    synchronized void clear(String key, String message) {
        JsonObject a = alarms.get(key);
        if (a != null && a.getBoolean("active")) {
            a.put("active", false).put("clearedAt", Instant.now().toString());
            event("info", a.getString("type"), a.getString("objectId"), message);
        }
    }

    synchronized JsonArray alarms(Boolean active) {
        JsonArray out = new JsonArray();
        Iterator<JsonObject> it = new java.util.ArrayList<>(alarms.values()).reversed().iterator();
        while (it.hasNext()) {
            JsonObject a = it.next();
            if (active == null || a.getBoolean("active") == active) {
                out.add(a.copy());
            }
        }
        return out;
    }

    synchronized JsonObject acknowledge(String id) {
        for (JsonObject a : alarms.values()) {
            if (a.getString("id").equals(id)) {
                a.put("acknowledged", true);
                return a.copy();
            }
        }
        throw ApiError.notFound("alarm_not_found", "there is no alarm " + id);
    }
}
