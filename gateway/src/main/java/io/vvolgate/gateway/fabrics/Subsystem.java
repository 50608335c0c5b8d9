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
    /** Admitted host NQNs; replaced whole when the control plane registers or removes a host. */
    private volatile Set<String> hosts;
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

    public boolean allowsAnyHost() {
        return allowAnyHost;
    }

    /** The admitted host NQNs (besides any host, when {@link #allowsAnyHost}). */
    public Set<String> hosts() {
        return hosts;
    }

    /** Admits a host from now on (a host the control plane registered). */
    public synchronized void allowHost(String hostNqn) {
        java.util.HashSet<String> next = new java.util.HashSet<>(hosts);
        next.add(hostNqn);
        hosts = Set.copyOf(next);
    }

    /** Admits the host no more; controllers it has stay until they go (the control plane refuses while bound). */
    public synchronized void disallowHost(String hostNqn) {
        java.util.HashSet<String> next = new java.util.HashSet<>(hosts);
        next.remove(hostNqn);
        hosts = Set.copyOf(next);
    }

    /** The namespace of that NSID, whoever may see it; for the admin API. Hosts go through {@link #namespaceFor}. */
    public Namespace namespace(int nsid) {
        return namespaces.get(nsid);
    }

    /** The namespace of that NSID if {@code hostNqn} may see it, else null (then it is not active for the host). */
    public Namespace namespaceFor(int nsid, String hostNqn) {
        Namespace ns = namespaces.get(nsid);
        return ns != null && ns.visibleTo(hostNqn) ? ns : null;
    }

    /** All namespaces in NSID order, whoever may see them. */
    public Collection<Namespace> namespaces() {
        return namespaces.values();
    }

    /** The namespaces {@code hostNqn} may see (its active namespaces), in NSID order. */
    public java.util.List<Namespace> namespacesFor(String hostNqn) {
        java.util.List<Namespace> out = new java.util.ArrayList<>();
        for (Namespace ns : namespaces.values()) {
            if (ns.visibleTo(hostNqn)) {
                out.add(ns);
            }
        }
        return out;
    }

    void addNamespace(Namespace ns) {
        if (namespaces.putIfAbsent(ns.nsid(), ns) != null) {
            throw new IllegalArgumentException("subsystem " + nqn + " already has namespace " + ns.nsid());
        }
    }

    boolean removeNamespace(Namespace ns) {
        return namespaces.remove(ns.nsid(), ns);
    }

    /** The lowest NSID no namespace has. */
    int freeNsid() {
        int nsid = 1;
        for (int used : namespaces.keySet()) {
            if (used != nsid) {
                break;
            }
            nsid++;
        }
        return nsid;
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
