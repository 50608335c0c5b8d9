package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 * <p>A checkpoint stores the trees as they are, each shared node once ({@link ImageWriter}), and loading
 * rebuilds the same sharing ({@link ImageReader}); the log's MAP and UNMAP records replayed on top go through
 * {@link #set} and {@link #unmap} like the writes that made them.
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
        int imageStamp;        // the checkpoint image that numbered this node (see ImageWriter), 0 = none
        int imageNumber;       // its node number in that image

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

    // --- the checkpoint image: the node graph, each node once ---

    /** Node record encodings (the high nibble of a record's first byte). */
    static final int ENCODING_DENSE = 0;
    static final int ENCODING_SPARSE = 1;
    static final int ENCODING_DELTA = 2;

    /**
     * Writes maps' nodes into a checkpoint image: every node once however many maps share it, children
     * before their parents, so a map is stored as the index of its root ({@link #add}) and a reader can build
     * each node from nodes it already has. Node {@code i} is the {@code i}-th record written, from 0.
     *
     * <pre>
     *  node record:
     *   byte 0   level (bits 0-3; 0 = leaf) | encoding (bits 4-7)
     *   DENSE  (0)  512 entries
     *   SPARSE (1)  u16 n, then n x (u16 slot, entry)                     only the non-empty slots
     *   DELTA  (2)  u32 base node, u16 n, then n x (u16 slot, entry)      the base's entries with these n
     *                                                                      replaced (an entry 0 empties a slot)
     *  entry:   leaf   u64 physical cluster + 1 (0 = unmapped)
     *           inner  u32 child node + 1 (0 = none); the child is an earlier record one level down
     * </pre>
     *
     * A DELTA base is an earlier node of the same level at the same place in the tree (the same logical range),
     * in practice the same node in the previous snapshot of the same volume: what a write after a snapshot
     * copied ({@link #own}) and then changed in a few slots. So a snapshot that differs from its neighbour in
     * a few clusters costs a few entries plus one small record per level, not a copy of its leaves. Each node
     * takes the smallest of the three encodings; the caller's order of maps only changes how often DELTA wins.
     *
     * <p>Not thread-safe; used under the container's lock while it writes a checkpoint.
     */
    static final class ImageWriter {
        private static final java.util.concurrent.atomic.AtomicInteger STAMPS = new java.util.concurrent.atomic.AtomicInteger();
        private final ByteBuf out;
        /** Marks the nodes this image numbered (in the nodes themselves: no map from node to number to hash). */
        private final int stamp = nextStamp();
        private int written;
        /** The node last met at each place in the tree (index at its level, and level): DELTA's base. */
        private final Map<Long, Node> lastAt = new HashMap<>();
        private final long[] entries = new long[FANOUT];
        private final long[] baseEntries = new long[FANOUT];

        ImageWriter(ByteBuf out) {
            this.out = out;
        }

        /** Writes whichever of {@code map}'s nodes are not written yet; returns its root node + 1 (0: empty). */
        long add(ClusterMap map) {
            map.ensureLive();
            return map.root == null ? 0 : write(map.root, map.levels - 1, 0) + 1L;
        }

        private static int nextStamp() {
            int s;
            do {
                s = STAMPS.incrementAndGet();
            } while (s == 0);
            return s;
        }

        /** Node records written so far. */
        int nodes() {
            return written;
        }

        private int number(Node n) {
            return n.imageStamp == stamp ? n.imageNumber : -1;
        }

        private int write(Node n, int level, long index) {
            Long place = index << 3 | level;
            int done = number(n);
            if (done >= 0) {
                lastAt.put(place, n);
                return done;
            }
            if (!n.leaf()) {
                for (int i = 0; i < FANOUT; i++) {
                    if (n.kids[i] != null) {
                        write((Node) n.kids[i], level - 1, index * FANOUT + i);
                    }
                }
            }
            int width = n.leaf() ? 8 : 4;
            int used = entries(n, entries);
            int dense = FANOUT * width;
            int sparse = 2 + used * (2 + width);
            Node base = lastAt.get(place);
            int changed = Integer.MAX_VALUE;
            if (base != null) {
                entries(base, baseEntries);
                changed = 0;
                for (int i = 0; i < FANOUT; i++) {
                    if (entries[i] != baseEntries[i]) {
                        changed++;
                    }
                }
            }
            long delta = base == null ? Long.MAX_VALUE : 6L + changed * (2L + width);
            if (delta < sparse && delta < dense) {
                out.writeByte(level | ENCODING_DELTA << 4);
                out.writeIntLE(number(base));
                out.writeShortLE(changed);
                for (int i = 0; i < FANOUT; i++) {
                    if (entries[i] != baseEntries[i]) {
                        out.writeShortLE(i);
                        writeEntry(entries[i], width);
                    }
                }
            } else if (sparse < dense) {
                out.writeByte(level | ENCODING_SPARSE << 4);
                out.writeShortLE(used);
                for (int i = 0; i < FANOUT; i++) {
                    if (entries[i] != 0) {
                        out.writeShortLE(i);
                        writeEntry(entries[i], width);
                    }
                }
            } else {
                out.writeByte(level | ENCODING_DENSE << 4);
                for (int i = 0; i < FANOUT; i++) {
                    writeEntry(entries[i], width);
                }
            }
            int id = written++;
            if (id == Integer.MAX_VALUE) {
                throw new VolumeException("the maps hold more than " + Integer.MAX_VALUE + " nodes: too many for a checkpoint");
            }
            n.imageStamp = stamp;
            n.imageNumber = id;
            lastAt.put(place, n);
            return id;
        }

        private void writeEntry(long entry, int width) {
            if (width == 8) {
                out.writeLongLE(entry);
            } else {
                out.writeIntLE((int) entry);
            }
        }

        /** {@code n}'s entries as the image stores them (its children already written); returns how many are set. */
        private int entries(Node n, long[] into) {
            int used = 0;
            for (int i = 0; i < FANOUT; i++) {
                long e;
                if (n.leaf()) {
                    e = n.slots[i];
                } else {
                    e = n.kids[i] == null ? 0 : number((Node) n.kids[i]) + 1L;
                }
                into[i] = e;
                if (e != 0) {
                    used++;
                }
            }
            return used;
        }
    }

    /**
     * Rebuilds maps from the node records {@link ImageWriter} wrote, with the same sharing: a node several
     * maps (or parents) referenced before the checkpoint is one node again, with the same counts, so memory
     * and copy-on-write after a restart are what they were before it. Every physical cluster gains one
     * reference per leaf that holds it, as {@link #set} would have given it.
     *
     * <p>The image passed its checksum before it gets here; the checks here (levels, indexes, every node
     * reached) are what keeps a damaged but well-checksummed image from building a tree that lies.
     */
    static final class ImageReader {
        private final ClusterRefcounts refs;
        private final List<Node> nodes = new ArrayList<>();
        private final List<Integer> levels = new ArrayList<>();
        private final List<Long> mappedBelow = new ArrayList<>();

        ImageReader(ClusterRefcounts refs) {
            this.refs = refs;
        }

        /** Reads the next node record from {@code in}. */
        void read(ByteBuf in) {
            int head = in.readUnsignedByte();
            int level = head & 0x0F;
            int encoding = head >>> 4;
            boolean leaf = level == 0;
            int width = leaf ? 8 : 4;
            Node n = new Node(leaf);
            n.refs = 0; // counted as parents and maps take it
            switch (encoding) {
                case ENCODING_DENSE -> {
                    for (int i = 0; i < FANOUT; i++) {
                        put(n, level, i, readEntry(in, width));
                    }
                }
                case ENCODING_SPARSE -> readChanges(in, n, level, width);
                case ENCODING_DELTA -> {
                    int base = checkedIndex(in.readIntLE(), level, "delta base");
                    Node b = nodes.get(base);
                    if (leaf) {
                        System.arraycopy(b.slots, 0, n.slots, 0, FANOUT);
                    } else {
                        System.arraycopy(b.kids, 0, n.kids, 0, FANOUT);
                    }
                    readChanges(in, n, level, width);
                }
                default -> throw damaged("node " + nodes.size() + " has an unknown encoding " + encoding);
            }
            long mapped = 0;
            for (int i = 0; i < FANOUT; i++) {
                if (leaf && n.slots[i] != 0) {
                    n.used++;
                    mapped++;
                    long cluster = n.slots[i] - 1;
                    if (cluster >= refs.capacity()) {
                        throw damaged("node " + nodes.size() + " maps cluster " + cluster + ", outside the container");
                    }
                    refs.increment(cluster);
                } else if (!leaf && n.kids[i] != null) {
                    n.used++;
                    Node kid = (Node) n.kids[i];
                    kid.refs++;
                    mapped += mappedBelow.get(kid.imageNumber); // numbered as it was read
                }
            }
            n.imageNumber = nodes.size();
            nodes.add(n);
            levels.add(level);
            mappedBelow.add(mapped);
        }

        private void readChanges(ByteBuf in, Node n, int level, int width) {
            int count = in.readUnsignedShortLE();
            if (count > FANOUT) {
                throw damaged("node " + nodes.size() + " lists " + count + " entries");
            }
            for (int c = 0; c < count; c++) {
                int slot = in.readUnsignedShortLE();
                if (slot >= FANOUT) {
                    throw damaged("node " + nodes.size() + " names slot " + slot);
                }
                put(n, level, slot, readEntry(in, width));
            }
        }

        private void put(Node n, int level, int slot, long entry) {
            if (level == 0) {
                n.slots[slot] = entry;
            } else {
                n.kids[slot] = entry == 0 ? null : nodes.get(checkedIndex(entry - 1, level - 1, "child"));
            }
        }

        private static long readEntry(ByteBuf in, int width) {
            return width == 8 ? in.readLongLE() : in.readUnsignedIntLE();
        }

        private int checkedIndex(long index, int level, String what) {
            if (index < 0 || index >= nodes.size() || levels.get((int) index) != level) {
                throw damaged("node " + nodes.size() + " names " + what + " " + index + ", not an earlier node of level " + level);
            }
            return (int) index;
        }

        /** The map of {@code clusters} logical clusters whose root is {@code root} (root node + 1; 0 = empty). */
        ClusterMap map(long root, long clusters) {
            ClusterMap map = create(clusters, refs);
            if (root != 0) {
                int r = checkedIndex(root - 1, map.levels - 1, "map root");
                map.root = nodes.get(r);
                map.root.refs++;
                map.mapped = mappedBelow.get(r);
            }
            return map;
        }

        /** After the last map: a node nothing reaches would hold clusters nobody can free. */
        void checkEveryNodeReached() {
            for (int i = 0; i < nodes.size(); i++) {
                if (nodes.get(i).refs == 0) {
                    throw damaged("node " + i + " belongs to no map");
                }
            }
        }

        private static VolumeException damaged(String why) {
            return new VolumeException("the checkpoint's map image is damaged: " + why);
        }
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
