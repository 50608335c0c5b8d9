package io.vvolgate.gateway.volume;

import java.util.function.LongBinaryOperator;

/**
 * The map of one virtual volume, snapshot or clone: logical cluster to physical cluster, as a radix tree
 * of 512-way nodes that maps share with each other.
 *
 * <pre>
 *   head ──► root(refs 2) ◄── snapshot          taking a snapshot: root.refs++   (O(1), any size)
 *              │  │
 *          inner  inner                          writing through the head copies each node on the path
 *            │      │                            whose refs &gt; 1 (its children gain a reference), so the
 *          leaf    leaf ── slot: cluster + 1     snapshot keeps the old path; then a cluster held by more
 *                                                than one leaf is copied before it is written (see
 *                                                {@link ClusterRefcounts})
 * </pre>
 *
 * Every node counts the parents (or roots) that point to it; every physical cluster counts the leaves that
 * hold it. Releasing a map drops its root's count; a node whose count reaches zero releases its children,
 * and a leaf its clusters; a cluster whose count reaches zero is free. So deleting snapshots in any order
 * returns exactly the space nothing else references.
 *
 * <p>Owned by the container's metadata thread; not thread-safe.
 */
public final class ClusterMap {
    /** The value of an unmapped logical cluster. */
    public static final long UNMAPPED = -1;
    static final int BITS = 9;
    static final int FANOUT = 1 << BITS;
    private static final int MASK = FANOUT - 1;

    private static final class Node {
        int refs = 1;
        final Object[] kids;   // inner node
        final long[] slots;    // leaf: physical cluster + 1, 0 = unmapped
        int used;              // non-empty entries, so empty nodes can be dropped

        Node(boolean leaf) {
            this.kids = leaf ? null : new Object[FANOUT];
            this.slots = leaf ? new long[FANOUT] : null;
        }

        boolean leaf() {
            return slots != null;
        }
    }

    private final ClusterRefcounts refs;
    private Node root;
    private int levels;
    private long clusters;
    /** Mapped logical clusters, kept as they change (thick volumes' reservations use it). */
    private long mapped;
    private boolean released;

    private ClusterMap(ClusterRefcounts refs, Node root, int levels, long clusters) {
        this.refs = refs;
        this.root = root;
        this.levels = levels;
        this.clusters = clusters;
    }

    /** An empty map of {@code clusters} logical clusters. */
    public static ClusterMap create(long clusters, ClusterRefcounts refs) {
        if (clusters < 1) {
            throw new IllegalArgumentException("a map has at least one cluster");
        }
        return new ClusterMap(refs, null, levelsFor(clusters), clusters);
    }

    static int levelsFor(long clusters) {
        int levels = 1;
        long span = FANOUT;
        while (span < clusters) {
            span <<= BITS;
            levels++;
        }
        return levels;
    }

    public long clusters() {
        return clusters;
    }

    /** The physical cluster behind logical cluster {@code lc}, or {@link #UNMAPPED}. */
    public long get(long lc) {
        check(lc);
        Node n = root;
        for (int level = levels - 1; n != null; level--) {
            int i = index(lc, level);
            if (level == 0) {
                return n.slots[i] - 1;
            }
            n = (Node) n.kids[i];
        }
        return UNMAPPED;
    }

    /**
     * A map that shares everything with this one: a snapshot of it, or (taken of a snapshot) a linked
     * clone's head. O(1) whatever the size.
     */
    public ClusterMap share() {
        ensureLive();
        if (root != null) {
            root.refs++;
        }
        ClusterMap copy = new ClusterMap(refs, root, levels, clusters);
        copy.mapped = mapped;
        return copy;
    }

    /**
     * Makes the path to {@code lc} this map's own (copying shared nodes) and returns the cluster there, or
     * {@link #UNMAPPED}. If the returned cluster's count is above 1 it is still shared with another map and
     * must be copied before writing: allocate, copy, then {@link #set}.
     */
    public long ownPath(long lc) {
        check(lc);
        ensureLive();
        if (root == null) {
            return UNMAPPED;
        }
        root = own(root);
        Node n = root;
        for (int level = levels - 1; ; level--) {
            int i = index(lc, level);
            if (level == 0) {
                return n.slots[i] - 1;
            }
            Node kid = (Node) n.kids[i];
            if (kid == null) {
                return UNMAPPED;
            }
            kid = own(kid);
            n.kids[i] = kid;
            n = kid;
        }
    }

    /**
     * Points {@code lc} at {@code cluster} (which gains a reference), releasing the cluster that was there.
     * Copies shared nodes on the way.
     */
    public void set(long lc, long cluster) {
        check(lc);
        ensureLive();
        if (cluster < 0) {
            throw new IllegalArgumentException("cluster " + cluster);
        }
        if (root == null) {
            root = new Node(levels == 1);
        } else {
            root = own(root);
        }
        Node n = root;
        for (int level = levels - 1; ; level--) {
            int i = index(lc, level);
            if (level == 0) {
                long old = n.slots[i] - 1;
                refs.increment(cluster);
                n.slots[i] = cluster + 1;
                if (old == UNMAPPED) {
                    n.used++;
                    mapped++;
                } else {
                    refs.decrement(old);
                }
                return;
            }
            Node kid = (Node) n.kids[i];
            if (kid == null) {
                kid = new Node(level == 1);
                n.kids[i] = kid;
                n.used++;
            } else {
                kid = own(kid);
                n.kids[i] = kid;
            }
            n = kid;
        }
    }

    /** Unmaps {@code lc}; its cluster loses a reference (and is freed if nothing else holds it). */
    public void unmap(long lc) {
        check(lc);
        ensureLive();
        if (get(lc) == UNMAPPED) {
            return;
        }
        root = own(root);
        root = unmap(root, lc, levels - 1);
    }

    /** Unmaps below {@code n} (owned); returns the node, or null if it became empty (and was released). */
    private Node unmap(Node n, long lc, int level) {
        int i = index(lc, level);
        if (level == 0) {
            long old = n.slots[i] - 1;
            n.slots[i] = 0;
            n.used--;
            mapped--;
            refs.decrement(old);
        } else {
            Node kid = own((Node) n.kids[i]);
            Node after = unmap(kid, lc, level - 1);
            n.kids[i] = after;
            if (after == null) {
                n.used--;
            }
        }
        if (n.used == 0) {
            n.refs--; // owned, so this drops it to 0; its children are all gone already
            return null;
        }
        return n;
    }

    /** Grows to {@code newClusters} (never shrinks): adds levels above the root as needed. */
    public void grow(long newClusters) {
        ensureLive();
        if (newClusters < clusters) {
            throw new IllegalArgumentException("a map cannot shrink");
        }
        int newLevels = levelsFor(newClusters);
        while (levels < newLevels) {
            if (root != null) {
                Node up = new Node(false);
                up.kids[0] = root; // the root's reference moves to the new node
                up.used = 1;
                root = up;
            }
            levels++;
        }
        clusters = newClusters;
    }

    /** Calls {@code visitor} with (logical, physical) for every mapped cluster, in logical order. */
    public void forEachMapped(LongBinaryOperator visitor) {
        if (root != null) {
            walk(root, levels - 1, 0, visitor);
        }
    }

    private static void walk(Node n, int level, long base, LongBinaryOperator visitor) {
        long span = 1L << (BITS * level);
        for (int i = 0; i < FANOUT; i++) {
            if (level == 0) {
                if (n.slots[i] != 0) {
                    visitor.applyAsLong(base + i, n.slots[i] - 1);
                }
            } else if (n.kids[i] != null) {
                walk((Node) n.kids[i], level - 1, base + i * span, visitor);
            }
        }
    }

    /** Drops this map: every node and cluster only it held is released. The map is unusable after. */
    public void release() {
        ensureLive();
        released = true;
        if (root != null) {
            drop(root);
            root = null;
        }
    }

    /** Number of mapped logical clusters. */
    public long mappedClusters() {
        return mapped;
    }

    // --- internals ---

    /** Returns {@code n} if this map alone holds it, else a copy that it alone holds. */
    private Node own(Node n) {
        if (n.refs == 1) {
            return n;
        }
        Node copy = new Node(n.leaf());
        copy.used = n.used;
        if (n.leaf()) {
            System.arraycopy(n.slots, 0, copy.slots, 0, FANOUT);
            for (long s : copy.slots) {
                if (s != 0) {
                    refs.increment(s - 1);
                }
            }
        } else {
            System.arraycopy(n.kids, 0, copy.kids, 0, FANOUT);
            for (Object k : copy.kids) {
                if (k != null) {
                    ((Node) k).refs++;
                }
            }
        }
        n.refs--;
        return copy;
    }

    private void drop(Node n) {
        if (--n.refs > 0) {
            return;
        }
        if (n.leaf()) {
            for (long s : n.slots) {
                if (s != 0) {
                    refs.decrement(s - 1);
                }
            }
        } else {
            for (Object k : n.kids) {
                if (k != null) {
                    drop((Node) k);
                }
            }
        }
    }

    private static int index(long lc, int level) {
        return (int) (lc >>> (BITS * level)) & MASK;
    }

    private void check(long lc) {
        if (lc < 0 || lc >= clusters) {
            throw new IndexOutOfBoundsException("logical cluster " + lc + " outside 0.." + (clusters - 1));
        }
    }

    private void ensureLive() {
        if (released) {
            throw new IllegalStateException("map released");
        }
    }
}
