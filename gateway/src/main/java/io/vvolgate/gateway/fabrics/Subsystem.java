package io.vvolgate.gateway.fabrics;

import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An NVM subsystem: its NQN, identity strings, the hosts it admits, its namespaces and the controllers
 * hosts have created on it. The well-known discovery subsystem is one too ({@link #isDiscovery()}).
 *
 * <p>Threads: namespaces and controllers change rarely (admin API, Connect, teardown) and are read on
 * every command, so they sit in concurrent collections; reads need no lock.
 */
public final class Subsystem {
    private final String nqn;
    private final String serial;
    private final String model;
    private final boolean discovery;
    private final boolean allowAnyHost;
    private final Set<String> hosts;
    private final ConcurrentSkipListMap<Integer, Namespace> namespaces = new ConcurrentSkipListMap<>(Integer::compareUnsigned);
    private final CopyOnWriteArrayList<Controller> controllers = new CopyOnWriteArrayList<>();

    Subsystem(String nqn, String serial, String model, boolean discovery, boolean allowAnyHost, Collection<String> hosts) {
        this.nqn = nqn;
        this.serial = serial;
        this.model = model;
        this.discovery = discovery;
        this.allowAnyHost = allowAnyHost;
        this.hosts = Set.copyOf(hosts);
    }

    public String nqn() {
        return nqn;
    }

    public String serial() {
        return serial;
    }

    public String model() {
        return model;
    }

    public boolean isDiscovery() {
        return discovery;
    }

    public boolean allowsHost(String hostNqn) {
        return allowAnyHost || hosts.contains(hostNqn);
    }

    public Namespace namespace(int nsid) {
        return namespaces.get(nsid);
    }

    /** Active namespaces in NSID order. */
    public Collection<Namespace> namespaces() {
        return namespaces.values();
    }

    void addNamespace(Namespace ns) {
        if (namespaces.putIfAbsent(ns.nsid(), ns) != null) {
            throw new IllegalArgumentException("subsystem " + nqn + " already has namespace " + ns.nsid());
        }
    }

    public List<Controller> controllers() {
        return List.copyOf(controllers);
    }

    void addController(Controller c) {
        controllers.add(c);
    }

    void removeController(Controller c) {
        controllers.remove(c);
    }
}
