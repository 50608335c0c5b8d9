package io.vvolgate.hil;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * The control-plane half of the rig's bind boot: what the test does through the REST API while the guest
 * (a connected Linux host) watches for the effect. Before the boot it registers the guest's host NQN and
 * a second host NQN and creates a volume in the container; then, at each {@code RIG-CHECKPOINT} the guest
 * prints, it acts:
 *
 * <pre>
 *   bind-volume          bind the volume to the guest's host
 *   snapshot-clone-bind  snapshot the volume, linked-clone the snapshot, bind the clone to the guest's host
 *   unbind-volume        unbind the volume from it
 *   unbind-clone         unbind the clone; read both hosts back (the second must be connected and never bound)
 * </pre>
 *
 * The second host is registered (so it can connect) and never bound. Actions run in checkpoint order on
 * one thread of their own, so the console thread that hands them over never waits on an HTTP call. Each
 * action's outcome keeps the exact requests and answers for the report.
 */
final class BindScenario implements AutoCloseable
{
    /** The checkpoints the guest's bind phase must reach, in order. */
    static final List<String> CHECKPOINTS = List.of("bind-volume", "snapshot-clone-bind", "unbind-volume", "unbind-clone");

    /** One checkpoint's action: done, or why not, with the API exchanges it made. */
    record Action(String checkpoint, boolean done, String detail, List<String> exchanges) {}

    private final ApplianceApi api;
    private final String hostId;
    private final String host2Id;
    private final JsonObject volume;
    private final String endpointNqn;
    private final ExecutorService actor = Executors.newSingleThreadExecutor(r ->
    {
        final Thread t = new Thread(r, "bind-scenario");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Action> actions = new ConcurrentHashMap<>();
    private final Set<String> seen = ConcurrentHashMap.newKeySet();
    // Written by the actor thread, read by the test after finish().
    private final Map<String, Integer> boundNsids = new ConcurrentHashMap<>();
    private volatile JsonObject clone;
    private volatile JsonObject host2AtEnd;

    private BindScenario(final ApplianceApi api, final String hostId, final String host2Id, final JsonObject volume,
        final String endpointNqn)
    {
        this.api = api;
        this.hostId = hostId;
        this.host2Id = host2Id;
        this.volume = volume;
        this.endpointNqn = endpointNqn;
    }

    /**
     * Logs in, registers both hosts, creates the volume and finds the container's protocol endpoint
     * subsystem. Throws with the exchange that failed.
     */
    static BindScenario prepare(final ApplianceApi api, final String adminPassword, final String container, final String hostNqn,
        final String host2Nqn, final long volumeBytes) throws IOException, InterruptedException
    {
        api.login("admin", adminPassword);
        final String hostId = api.post("/api/hosts", new JsonObject().put("name", "rig-guest").put("nqn", hostNqn), 201).getString("id");
        final String host2Id = api.post("/api/hosts", new JsonObject().put("name", "rig-second-host").put("nqn", host2Nqn), 201)
            .getString("id");
        final JsonObject volume = api.post("/api/vvols",
            new JsonObject().put("container", container).put("name", "rig-bound").put("sizeBytes", volumeBytes), 201);
        final JsonArray endpoints = api.getArray("/api/protocol-endpoints");
        final String endpointNqn = endpoints.stream()
            .map(JsonObject.class::cast)
            .filter(pe -> pe.getString("containerId", "").equals(volume.getString("containerId")))
            .map(pe -> pe.getString("subsystemNqn"))
            .findFirst()
            .orElseThrow(() -> new ApplianceApi.ApiException("no protocol endpoint for container " + volume.getString("containerId")
                + ": " + api.lastExchange()));
        return new BindScenario(api, hostId, host2Id, volume, endpointNqn);
    }

    String endpointNqn()
    {
        return endpointNqn;
    }

    JsonObject volume()
    {
        return volume;
    }

    /** Called by the console thread for each checkpoint: queues its action (once). */
    void onCheckpoint(final String checkpoint)
    {
        if (seen.add(checkpoint))
        {
            actor.execute(() -> actions.put(checkpoint, act(checkpoint)));
        }
    }

    /** Waits for the queued actions after the boot ended; the actor thread is stopped either way. */
    void finish(final Duration wait) throws InterruptedException
    {
        actor.shutdown();
        if (!actor.awaitTermination(wait.toMillis(), TimeUnit.MILLISECONDS))
        {
            actor.shutdownNow();
        }
    }

    Optional<Action> action(final String checkpoint)
    {
        return Optional.ofNullable(actions.get(checkpoint));
    }

    /** The NSID bind answered for "volume" or "clone". */
    Optional<Integer> boundNsid(final String which)
    {
        return Optional.ofNullable(boundNsids.get(which));
    }

    Optional<JsonObject> linkedClone()
    {
        return Optional.ofNullable(clone);
    }

    /** The second host as {@code GET /api/hosts/{id}} showed it at the last checkpoint. */
    Optional<JsonObject> host2AtEnd()
    {
        return Optional.ofNullable(host2AtEnd);
    }

    private Action act(final String checkpoint)
    {
        final int before = api.transcript().size();
        try
        {
            final String detail = switch (checkpoint)
            {
                case "bind-volume" -> bind("volume", volume.getString("id"));
                case "snapshot-clone-bind" ->
                {
                    final JsonObject snapshot = api.post("/api/vvols/" + volume.getString("id") + "/snapshots",
                        new JsonObject().put("name", "rig-bound-snap"), 201);
                    clone = api.post("/api/vvols/" + snapshot.getString("id") + "/fast-clone",
                        new JsonObject().put("name", "rig-bound-clone"), 201);
                    yield "snapshot " + snapshot.getString("id") + ", clone " + clone.getString("id") + "; "
                        + bind("clone", clone.getString("id"));
                }
                case "unbind-volume" -> unbind(volume.getString("id"));
                case "unbind-clone" ->
                {
                    final String unbound = unbind(clone == null ? "(no clone)" : clone.getString("id"));
                    host2AtEnd = api.get("/api/hosts/" + host2Id);
                    yield unbound;
                }
                default -> throw new IllegalArgumentException("the guest announced an unknown checkpoint " + checkpoint);
            };
            return new Action(checkpoint, true, detail, exchangesSince(before));
        }
        catch (final IOException | RuntimeException e)
        {
            return new Action(checkpoint, false, e.getMessage(), exchangesSince(before));
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return new Action(checkpoint, false, "interrupted", exchangesSince(before));
        }
    }

    private String bind(final String which, final String vvolId) throws IOException, InterruptedException
    {
        final JsonObject binding = api.post("/api/vvols/" + vvolId + "/bind", new JsonObject().put("hostId", hostId), 200);
        boundNsids.put(which, binding.getInteger("nsid"));
        return which + " bound as NSID " + binding.getInteger("nsid") + " of " + binding.getString("subsystemNqn");
    }

    private String unbind(final String vvolId) throws IOException, InterruptedException
    {
        api.post("/api/vvols/" + vvolId + "/unbind", new JsonObject().put("hostId", hostId), 204);
        return "unbound " + vvolId;
    }

    private List<String> exchangesSince(final int index)
    {
        final List<String> all = api.transcript();
        return new ArrayList<>(all.subList(Math.min(index, all.size()), all.size()));
    }

    @Override
    public void close()
    {
        actor.shutdownNow();
    }
}
