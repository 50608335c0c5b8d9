package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A storage container: a pool of clusters on one device, self-described by its superblock and metadata
 * log, from which virtual volumes, snapshots and clones are carved.
 *
 * <pre>
 *  device:  [superblock A][superblock B][ metadata log ...... ][checkpoint A][checkpoint B][ data clusters ... ]
 * </pre>
 *
 * <p>The records of the metadata log ({@link MetadataLog} frames them: type u8, length u16, payload). Every
 * payload starts with a volume ID; integers are little-endian except the UUIDs (16 bytes, big-endian, most
 * significant half first); a string is a u16 byte count and at most 1024 bytes of UTF-8.
 * <pre>
 *  type            payload (offset: field)
 *   1 CREATE       0 id u64 | 8 volume type (bits 0-6) + thick (bit 7) u8 | 9 size u64 | 17 block size u16
 *                  | 19 NGUID 16 B | 35 UUID 16 B | 51 name string
 *   2 DELETE       0 id u64                                  (volume, snapshot or clone)
 *   3 RESIZE       0 id u64 | 8 new size u64
 *   4 MAP          0 volume u64 | 8 logical cluster u64 | 16 physical cluster u64
 *   5 UNMAP        0 volume u64 | 8 logical cluster u64
 *   6 SNAPSHOT     0 source u64 | 8 new id u64 | 16 NGUID 16 B | 32 UUID 16 B | 48 name string
 *   7 CLONE        as SNAPSHOT, the source being a snapshot  (a linked clone)
 *   8 REVERT       0 volume u64 | 8 snapshot u64
 *   9 METADATA     0 id u64 | 8 key string | then present u8 (0 = removed) | value string
 *  10 FULL_COPY    0 id u64 | 8 u8: 1 copy started, 0 copy finished
 *  11 FULL_CLONE   as SNAPSHOT, the source being a snapshot  (a full clone, its copy started)
 * </pre>
 * Logs written before FULL_CLONE existed hold CLONE then FULL_COPY(1) for a full clone; both still replay.
 *
 * <p>What is durable, and how:
 * <ul>
 *   <li>Management operations (create, delete, resize, snapshot, clone, revert, metadata) append a record
 *       and commit it before they return: each happened completely or, after a crash, not at all.</li>
 *   <li>A write to a cluster the volume owns alone goes in place. Any other write (first write, or a
 *       cluster shared with a snapshot) goes to a newly allocated cluster (copying the rest of the old
 *       cluster when the write covers only part of it) and appends a MAP record.</li>
 *   <li>Flush (and FUA) makes data durable first, then commits the log: so a committed MAP record never
 *       points at a cluster whose data is not on the device.</li>
 *   <li>A cluster freed in memory is reused only after the commit that freed it is durable, so a crash can
 *       never leave a committed map pointing at a cluster that has meanwhile been overwritten.</li>
 *   <li>Likewise a cluster one map let go of while another still holds it (a head copying away from a
 *       cluster a clone shares) is written in place by the other only once that change is durable; until
 *       then the other copies on write too ({@link FreeClusters#mayWriteInPlace}).</li>
 *   <li>While a newly allocated cluster is being filled, other I/O to it waits, so nobody reads the old
 *       contents of a reused cluster.</li>
 * </ul>
 *
 * <p>Threads: one lock (this object) guards the maps, refcounts and log; device I/O is issued under it and
 * completes on whatever thread the device uses. Management operations block while they commit. Each full
 * clone's copy runs on a thread of its own, which takes the lock for each cluster it maps; close stops
 * those threads and waits for them before it closes the log.
 */
public final class Container implements AutoCloseable {
    static final int REC_CREATE = 1;
    static final int REC_DELETE = 2;
    static final int REC_RESIZE = 3;
    static final int REC_MAP = 4;
    static final int REC_UNMAP = 5;
    static final int REC_SNAPSHOT = 6;
    static final int REC_CLONE = 7;
    static final int REC_REVERT = 8;
    static final int REC_METADATA = 9;
    /** A full clone's background copy started (1) or finished (0). */
    static final int REC_FULL_COPY = 10;
    /** A full clone: a clone whose background copy has started, in one record (so all or nothing). */
    static final int REC_FULL_CLONE = 11;

    /** Space figures of a container, in bytes. */
    public record Space(long capacity, long used, long free, long provisioned, long volumes, long snapshots, long reserved) {
    }

    private static final System.Logger LOG = System.getLogger("vvolgate.container");

    private final BlockDevice device;
    private Superblock superblock;
    private final MetadataLog log;
    private final int clusterSize;
    private final ClusterRefcounts refs;
    private final FreeClusters free;
    private final TreeMap<Long, VirtualVolume> volumes = new TreeMap<>();
    /** The thick ones among them, so reservations are summed without walking every volume. */
    private final Map<Long, VirtualVolume> thickVolumes = new HashMap<>();
    private final Map<Long, ArrayDeque<Runnable>> filling = new HashMap<>();
    private long recoveryMillis;
    /** Where the open's log replay ended and why (fsck reports it). */
    private MetadataLog.Position replayEnd;
    private long nextVolumeId = 1;
    private long checkpoints;
    private boolean replaying;
    /** While logThenApply applies a record it has already made durable. */
    private boolean applyingDurable;
    private boolean closed;
    /** Close has begun: full-clone copies stop at their next step, and no operation starts. */
    private boolean closing;
    /** The full-clone copy threads running; close waits for them before it closes the log. */
    private final List<Thread> copiers = new ArrayList<>();

    private Container(BlockDevice device, Superblock sb) {
        this.device = device;
        this.superblock = sb;
        this.log = new MetadataLog(device, sb.logOffset(), sb.logLength(), sb.containerId(), this::recordEpoch);
        this.clusterSize = sb.clusterSize();
        this.refs = new ClusterRefcounts(sb.dataClusters(), this::clusterFreed, this::clusterDropped);
        this.free = new FreeClusters(sb.dataClusters());
    }

    // --- format and open ---

    /** Writes a new, empty container over the whole device (whatever was there is gone). */
    public static Container format(BlockDevice device, UUID id, int clusterSize) {
        long logLength = Math.min(256L << 20, Math.max(1L << 20, device.size() / 64)) / MetadataLog.BLOCK_SIZE * MetadataLog.BLOCK_SIZE;
        long checkpointLength = Math.max(1L << 20, device.size() / 128) / MetadataLog.BLOCK_SIZE * MetadataLog.BLOCK_SIZE;
        return format(device, id, clusterSize, logLength, checkpointLength);
    }

    /** As {@link #format(BlockDevice, UUID, int)} with the metadata areas' sizes given (tests use small ones). */
    public static Container format(BlockDevice device, UUID id, int clusterSize, long logLength, long checkpointLength) {
        Superblock sb = Superblock.format(id, device.size(), clusterSize, logLength, checkpointLength);
        // A blank first log block, so no leftover block of an earlier container with this ID can replay.
        ByteBuf blank = Unpooled.buffer(MetadataLog.BLOCK_SIZE).writeZero(MetadataLog.BLOCK_SIZE);
        awaitIo(device, (d, done) -> d.write(sb.logOffset(), MetadataLog.BLOCK_SIZE, blank, false, done, COMPLETE_FUTURE));
        writeSuperblocks(device, sb);
        Container c = new Container(device, sb);
        c.log.start(0, 1); // the superblock just written says epoch 1
        c.free.allFree();
        return c;
    }

    /** Opens the container on {@code device}: newest valid superblock, then the log replayed. */
    public static Container open(BlockDevice device) {
        return open(device, false);
    }

    /**
     * Opens the container to look at it (fsck): as {@link #open(BlockDevice)}, but writing nothing, so an
     * interrupted full-clone copy is left for the next real open. Whatever {@code open} comes to write
     * (a copy, a log block, a superblock) must be skipped when {@code readOnly}. Close it with
     * {@link #closeWithoutCommit}.
     */
    public static Container openReadOnly(BlockDevice device) {
        return open(device, true);
    }

    private static Container open(BlockDevice device, boolean readOnly) {
        long start = System.nanoTime();
        Superblock sb = readSuperblock(device);
        if (sb == null) {
            throw new VolumeException("no vvolgate container on this device (no valid superblock)");
        }
        Container c = new Container(device, sb);
        c.replaying = true;
        if (sb.activeCheckpoint() != 0) {
            c.loadCheckpoint(sb);
        }
        MetadataLog.Position end = c.log.replay(sb.logHead(), sb.checkpointSequence() + 1, sb.headEpoch(), sb.epoch(), c::apply);
        c.replayEnd = end;
        c.replaying = false;
        c.free.rebuild(c.refs);
        c.recoveryMillis = (System.nanoTime() - start) / 1_000_000;
        synchronized (c) {
            for (VirtualVolume v : c.volumes.values()) {
                if (v.copyPending && !readOnly) {
                    c.startCopy(v); // a full clone's copy cut short by a restart or a close goes on
                }
            }
        }
        LOG.log(System.Logger.Level.INFO, "container {0} recovered in {1} ms: {2} log blocks replayed, {3} volumes",
                sb.containerId(), c.recoveryMillis, end.blocksReplayed(), c.volumes.size());
        return c;
    }

    /** Where log replay ended at open, and why; null for a container made by {@link #format}. */
    public MetadataLog.Position replayEnd() {
        return replayEnd;
    }

    static Superblock readSuperblock(BlockDevice device) {
        ByteBuf buf = Unpooled.buffer(2 * Superblock.SIZE);
        int errno = awaitIo(device, (d, done) -> d.read(0, 2 * Superblock.SIZE, buf, done, COMPLETE_FUTURE));
        if (errno != IoCompletion.OK) {
            throw new VolumeException("cannot read the superblock (errno " + errno + ")");
        }
        return Superblock.newest(Superblock.readFrom(buf, 0), Superblock.readFrom(buf, Superblock.SIZE));
    }

    /** Copy A, flush, copy B, flush: a cut tears at most one of them. */
    static void writeSuperblocks(BlockDevice device, Superblock sb) {
        for (long at : new long[] {Superblock.COPY_A_OFFSET, Superblock.COPY_B_OFFSET}) {
            ByteBuf buf = Unpooled.buffer(Superblock.SIZE);
            sb.writeTo(buf);
            check(awaitIo(device, (d, done) -> d.write(at, Superblock.SIZE, buf, false, done, COMPLETE_FUTURE)), "superblock write");
            check(awaitIo(device, (d, done) -> d.flush(done, COMPLETE_FUTURE)), "superblock flush");
        }
    }

    /**
     * The log's {@link MetadataLog.EpochStore}: a new era's epoch goes into both superblock copies (A, flush,
     * B, flush, as {@link #writeSuperblocks}) before the era's first log block is written. Called under the
     * lock, possibly on a device thread, so it does not wait: the future completes when copy B is flushed.
     */
    private CompletableFuture<Void> recordEpoch(int epoch) {
        Superblock next = superblock.withEpoch(epoch);
        superblock = next;
        CompletableFuture<Void> done = new CompletableFuture<>();
        writeSuperblockCopy(next, Superblock.COPY_A_OFFSET, done);
        return done;
    }

    private void writeSuperblockCopy(Superblock sb, long at, CompletableFuture<Void> done) {
        ByteBuf buf = Unpooled.buffer(Superblock.SIZE);
        sb.writeTo(buf);
        device.write(at, Superblock.SIZE, buf, false, done, (d, errno) -> {
            if (errno != IoCompletion.OK) {
                d.completeExceptionally(new VolumeException("superblock write failed (errno " + errno + ")"));
                return;
            }
            device.flush(d, (f, flushErrno) -> {
                if (flushErrno != IoCompletion.OK) {
                    f.completeExceptionally(new VolumeException("superblock flush failed (errno " + flushErrno + ")"));
                } else if (at == Superblock.COPY_A_OFFSET) {
                    writeSuperblockCopy(sb, Superblock.COPY_B_OFFSET, f);
                } else {
                    f.complete(null);
                }
            });
        });
    }

    public UUID id() {
        return superblock.containerId();
    }

    public int clusterSize() {
        return clusterSize;
    }

    /** Checkpoints written since this container was opened. */
    public synchronized long checkpointCount() {
        return checkpoints;
    }

    public long recoveryMillis() {
        return recoveryMillis;
    }

    // --- management operations (durable when they return) ---

    /** Creates a thin volume of {@code size} bytes. */
    public synchronized VirtualVolume createVolume(String name, VolumeType type, long size, int blockSize, byte[] nguid, UUID uuid) {
        return createVolume(name, type, size, blockSize, nguid, uuid, false);
    }

    /**
     * Creates a volume; a thick one reserves its whole size now (refused if the container cannot hold it),
     * so its writes never fail for lack of space.
     */
    public synchronized VirtualVolume createVolume(String name, VolumeType type, long size, int blockSize, byte[] nguid, UUID uuid,
                                                  boolean thick) {
        ensureOpen();
        if (thick && clusters(size) > unreservedFree()) {
            throw new VolumeException("cannot reserve " + size + " bytes for thick volume \"" + name + "\": "
                    + unreservedFree() * clusterSize + " bytes are free and unreserved");
        }
        if (blockSize != 512 && blockSize != 4096) {
            throw new VolumeException("block size must be 512 or 4096, not " + blockSize);
        }
        if (size <= 0 || size % blockSize != 0) {
            throw new VolumeException("volume size " + size + " is not a positive multiple of " + blockSize);
        }
        long id = nextVolumeId;
        ByteBuf r = record(REC_CREATE, id);
        r.writeByte(type.ordinal() | (thick ? 0x80 : 0)).writeLongLE(size).writeShortLE(blockSize).writeBytes(nguid);
        r.writeLong(uuid.getMostSignificantBits()).writeLong(uuid.getLeastSignificantBits());
        writeString(r, name);
        VirtualVolume v = (VirtualVolume) applyAndLog(r);
        return v;
    }

    /** Deletes a volume, snapshot or clone; the space comes back when nothing else references it. */
    public synchronized void deleteVolume(long id) {
        ensureOpen();
        deleting = true; // may use the log's last quarter when the state no longer fits a checkpoint
        try {
            logThenApply(record(REC_DELETE, id), volume(id));
        } finally {
            deleting = false;
        }
    }

    /** Grows a volume; shrinking is refused. */
    public synchronized void resizeVolume(long id, long newSize) {
        ensureOpen();
        VirtualVolume v = volume(id);
        if (v.readOnly()) {
            throw new VolumeException(v + " is a snapshot: it cannot be resized");
        }
        if (newSize < v.size()) {
            throw new VolumeException("shrinking " + v + " from " + v.size() + " to " + newSize + " bytes is refused: it would lose data");
        }
        if (newSize % v.blockSize() != 0) {
            throw new VolumeException("new size " + newSize + " is not a multiple of the block size " + v.blockSize());
        }
        applyAndLog(record(REC_RESIZE, id).writeLongLE(newSize));
    }

    /** A point-in-time, read-only snapshot; O(1) whatever the size. */
    public synchronized VirtualVolume snapshot(long id, String name, byte[] nguid, UUID uuid) {
        ensureOpen();
        volume(id);
        ByteBuf r = record(REC_SNAPSHOT, id).writeLongLE(nextVolumeId).writeBytes(nguid);
        r.writeLong(uuid.getMostSignificantBits()).writeLong(uuid.getLeastSignificantBits());
        writeString(r, name);
        return (VirtualVolume) applyAndLog(r);
    }

    /** A writable linked clone of a snapshot (O(1)): it shares the snapshot's clusters until it writes. */
    public synchronized VirtualVolume cloneLinked(long snapshotId, String name, byte[] nguid, UUID uuid) {
        ensureOpen();
        VirtualVolume s = volume(snapshotId);
        if (!s.readOnly()) {
            throw new VolumeException(s + " is not a snapshot: clone from a snapshot");
        }
        ByteBuf r = record(REC_CLONE, snapshotId).writeLongLE(nextVolumeId).writeBytes(nguid);
        r.writeLong(uuid.getMostSignificantBits()).writeLong(uuid.getLeastSignificantBits());
        writeString(r, name);
        return (VirtualVolume) applyAndLog(r);
    }

    /**
     * A writable full clone of a snapshot: usable at once (it starts as a linked clone), while a background
     * copy gives it clusters of its own, so that in the end it shares nothing. A copy cut short by a restart
     * resumes when the container opens. {@link #copyProgress} says how far it is.
     */
    public synchronized VirtualVolume cloneFull(long snapshotId, String name, byte[] nguid, UUID uuid) {
        ensureOpen();
        VirtualVolume s = volume(snapshotId);
        if (!s.readOnly()) {
            throw new VolumeException(s + " is not a snapshot: clone from a snapshot");
        }
        // One record: a cut leaves either no clone or a full one whose copy resumes at open (before
        // there were two, CLONE then FULL_COPY, and a cut between them left a linked clone).
        ByteBuf r = record(REC_FULL_CLONE, snapshotId).writeLongLE(nextVolumeId).writeBytes(nguid);
        r.writeLong(uuid.getMostSignificantBits()).writeLong(uuid.getLeastSignificantBits());
        writeString(r, name);
        VirtualVolume clone = (VirtualVolume) applyAndLog(r);
        startCopy(clone);
        return clone;
    }

    /** Fraction (0..1) of a full clone's clusters that are its own; 1 when no copy is running. */
    public synchronized double copyProgress(long id) {
        VirtualVolume v = volume(id);
        if (!v.copyPending) {
            return 1.0;
        }
        long[] own = {0};
        long[] all = {0};
        v.map.forEachMapped((lc, pc) -> {
            all[0]++;
            if (refs.get(pc) == 1) {
                own[0]++;
            }
            return 0;
        });
        return all[0] == 0 ? 1.0 : (double) own[0] / all[0];
    }

    /** Completes when the full clone's copy is done (at once if none runs). */
    public synchronized CompletableFuture<Void> copyDone(long id) {
        VirtualVolume v = volume(id);
        return v.copyDone != null ? v.copyDone : CompletableFuture.completedFuture(null);
    }

    /** Under the lock. Not while closing: close would not wait for it (the copy resumes at the next open). */
    private void startCopy(VirtualVolume clone) {
        clone.copyDone = new CompletableFuture<>();
        if (closing || closed) {
            clone.copyDone.completeExceptionally(copyStoppedByClose(clone));
            return;
        }
        Thread t = new Thread(() -> copyClusters(clone), "vvolgate-full-clone-" + clone.id());
        t.setDaemon(true);
        copiers.add(t);
        t.start();
    }

    private VolumeException copyStoppedByClose(VirtualVolume clone) {
        return new VolumeException("container " + id() + " was closed before the full clone of volume " + clone.id()
                + " finished copying: the copy resumes when the container is opened again");
    }

    /**
     * The background copy: every cluster the clone shares gets a private copy, unless the host wrote it first.
     * One cluster at a time: under the lock pick it, allocate and pin; outside it read and write the data;
     * under the lock again make room in the log ({@link #ensureLogSpace}, as every appender does before its
     * records, so a long copy checkpoints on the way instead of overrunning the log), then map and log it.
     * Each step under the lock first looks whether close has begun: then the copy ends there, appending
     * nothing, and {@link #close} waits for it before it closes the log.
     */
    private void copyClusters(VirtualVolume clone) {
        try {
            List<Long> logical = new ArrayList<>();
            synchronized (this) {
                clone.map.forEachMapped((lc, pc) -> {
                    logical.add(lc);
                    return 0;
                });
            }
            int sinceCommit = 0;
            ByteBuf buf = directBuffer(clusterSize);
            try {
                for (long lc : logical) {
                    long pc;
                    long c;
                    synchronized (this) {
                        if (closing || closed) {
                            throw copyStoppedByClose(clone);
                        }
                        if (clone.deleted) {
                            clone.copyDone.complete(null);
                            return;
                        }
                        pc = lc < clone.map.clusters() ? clone.map.ownPath(lc) : ClusterMap.UNMAPPED;
                        if (pc == ClusterMap.UNMAPPED || refs.get(pc) == 1) {
                            continue; // unmapped since, or already its own
                        }
                        c = allocate();
                        if (c < 0) {
                            throw new VolumeException("container full: the full clone of volume " + clone.id() + " stays linked");
                        }
                        refs.increment(pc); // pinned while copied
                    }
                    buf.clear();
                    int errno = awaitIo(device, (d, done) -> d.read(clusterOffset(pc), clusterSize, buf, done, COMPLETE_FUTURE));
                    if (errno == IoCompletion.OK) {
                        errno = awaitIo(device, (d, done) -> d.write(clusterOffset(c), clusterSize, buf, false, done, COMPLETE_FUTURE));
                    }
                    synchronized (this) {
                        boolean mapped = false;
                        try {
                            if (errno != IoCompletion.OK) {
                                throw new VolumeException("the full clone of volume " + clone.id() + " could not copy a cluster (errno " + errno + ")");
                            }
                            if (closing || closed) {
                                throw copyStoppedByClose(clone);
                            }
                            // May checkpoint, which lets go of the lock while it commits: so look again after it.
                            ensureLogSpace();
                            if (closing || closed) {
                                throw copyStoppedByClose(clone);
                            }
                            if (!clone.deleted && clone.map.get(lc) == pc) {
                                clone.map.set(lc, c);
                                logMap(clone.id(), lc, c);
                                mapped = true;
                                sinceCommit++;
                            }
                        } finally {
                            refs.unpin(pc);
                            if (!mapped) {
                                free.release(c); // never referenced: reusable at once
                            }
                        }
                    }
                    if (sinceCommit >= 64) {
                        commit().join();
                        sinceCommit = 0;
                    }
                }
            } finally {
                buf.release();
            }
            synchronized (this) {
                if (closing || closed) {
                    throw copyStoppedByClose(clone);
                }
                if (!clone.deleted) {
                    applyAndLog(record(REC_FULL_COPY, clone.id()).writeByte(0));
                }
            }
            clone.copyDone.complete(null);
        } catch (RuntimeException e) {
            boolean byClose;
            synchronized (this) {
                byClose = closing || closed;
            }
            LOG.log(byClose ? System.Logger.Level.INFO : System.Logger.Level.WARNING,
                    "full clone copy of volume {0} stopped: {1}", clone.id(), e.getMessage());
            clone.copyDone.completeExceptionally(e);
        } finally {
            synchronized (this) {
                copiers.remove(Thread.currentThread());
            }
        }
    }

    /** Makes a volume's contents those of one of its snapshots (the snapshot stays). */
    public synchronized void revert(long volumeId, long snapshotId) {
        ensureOpen();
        VirtualVolume v = volume(volumeId);
        VirtualVolume s = volume(snapshotId);
        if (v.readOnly() || !s.readOnly()) {
            throw new VolumeException("revert takes a writable volume and a snapshot");
        }
        if (s.size() != v.size()) {
            throw new VolumeException("snapshot " + snapshotId + " has another size than " + v);
        }
        logThenApply(record(REC_REVERT, volumeId).writeLongLE(snapshotId), v);
    }

    /** Sets (or, with a null value, removes) a metadata key-value. */
    public synchronized void setMetadata(long id, String key, String value) {
        ensureOpen();
        volume(id);
        ByteBuf r = record(REC_METADATA, id);
        writeString(r, key);
        r.writeBoolean(value != null);
        writeString(r, value == null ? "" : value);
        applyAndLog(r);
    }

    public synchronized Map<String, String> metadata(long id) {
        return volume(id).metadataView();
    }

    public synchronized VirtualVolume volume(long id) {
        VirtualVolume v = volumes.get(id);
        if (v == null) {
            throw new VolumeException("no volume " + id + " in container " + id());
        }
        return v;
    }

    public synchronized Collection<VirtualVolume> volumes() {
        return List.copyOf(volumes.values());
    }

    /** Space of the container: capacity, used clusters, free, provisioned by volumes (not snapshots). */
    public synchronized Space space() {
        long capacity = superblock.dataClusters() * clusterSize;
        long used = refs.referencedClusters() * clusterSize;
        long provisioned = 0;
        long heads = 0;
        long snaps = 0;
        for (VirtualVolume v : volumes.values()) {
            if (v.readOnly()) {
                snaps++;
            } else {
                heads++;
                provisioned += v.size();
            }
        }
        return new Space(capacity, used, capacity - used, provisioned, heads, snaps, reservedClusters() * clusterSize);
    }

    /**
     * Bytes that only snapshots still hold: clusters some snapshot references and no writable volume does
     * (what deleting every snapshot would give back). Walks every map: for the control plane, not the data path.
     */
    public synchronized long snapshotBytes() {
        java.util.BitSet live = new java.util.BitSet();
        for (VirtualVolume v : volumes.values()) {
            if (!v.readOnly()) {
                v.map.forEachMapped((lc, pc) -> {
                    live.set(Math.toIntExact(pc));
                    return 0;
                });
            }
        }
        java.util.BitSet onlySnapshots = new java.util.BitSet();
        for (VirtualVolume v : volumes.values()) {
            if (v.readOnly()) {
                v.map.forEachMapped((lc, pc) -> {
                    if (!live.get(Math.toIntExact(pc))) {
                        onlySnapshots.set(Math.toIntExact(pc));
                    }
                    return 0;
                });
            }
        }
        return (long) onlySnapshots.cardinality() * clusterSize;
    }

    /** True while a full clone's background copy runs. */
    public synchronized boolean copying(long id) {
        return volume(id).copyPending;
    }

    /** Bytes a volume's map holds clusters for (its allocated space, shared or not). */
    public synchronized long allocatedBytes(long id) {
        return volume(id).map.mappedClusters() * clusterSize;
    }

    /** One bit per cluster of the volume: set if allocated (VASA allocatedBitmapVirtualVolume). */
    public synchronized java.util.BitSet allocatedBitmap(long id) {
        java.util.BitSet bits = new java.util.BitSet();
        volume(id).map.forEachMapped((lc, pc) -> {
            bits.set((int) lc);
            return 0;
        });
        return bits;
    }

    /**
     * One bit per cluster where the volume differs from one of its snapshots (VASA
     * unsharedBitmapVirtualVolume): the changed blocks, for incremental backup and replication.
     */
    public synchronized java.util.BitSet unsharedBitmap(long id, long snapshotId) {
        ClusterMap head = volume(id).map;
        ClusterMap base = volume(snapshotId).map;
        java.util.BitSet bits = new java.util.BitSet();
        head.forEachMapped((lc, pc) -> {
            if (lc >= base.clusters() || base.get(lc) != pc) {
                bits.set((int) lc);
            }
            return 0;
        });
        base.forEachMapped((lc, pc) -> {
            if (lc >= head.clusters() || head.get(lc) == ClusterMap.UNMAPPED) {
                bits.set((int) lc);
            }
            return 0;
        });
        return bits;
    }

    /** The volume as a block device, to export it as a namespace. */
    public VolumeDevice device(long id) {
        synchronized (this) {
            volume(id);
        }
        return new VolumeDevice(this, id);
    }

    // --- the log: records, replay, commit ---

    private static ByteBuf record(int type, long id) {
        ByteBuf r = Unpooled.buffer(64);
        r.writeByte(type);
        r.writeLongLE(id);
        return r;
    }

    private static void writeString(ByteBuf r, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        if (b.length > 1024) {
            throw new VolumeException("name or metadata of " + b.length + " bytes is longer than 1024");
        }
        r.writeShortLE(b.length).writeBytes(b);
    }

    private static String readString(ByteBuf r) {
        int n = r.readUnsignedShortLE();
        return r.readCharSequence(n, StandardCharsets.UTF_8).toString();
    }

    /**
     * For operations that release clusters (delete, revert): the record is made durable before memory
     * changes, or a write could go in place into a cluster the on-disk state still shares. I/O to the
     * volume is fenced meanwhile (the host sees a retryable status).
     */
    private void logThenApply(ByteBuf r, VirtualVolume fenced) {
        ByteBuf payload = r.slice(1, r.readableBytes() - 1);
        int type = r.getUnsignedByte(0);
        ensureLogSpace();
        fenced.fenced = true;
        try {
            log.append(type, payload);
            commitAndWait();
            applyingDurable = true;
            apply(0, type, payload.duplicate());
        } finally {
            applyingDurable = false;
            fenced.fenced = false;
        }
    }

    /** Applies a management record in memory, logs it and commits; returns what apply returned. */
    private Object applyAndLog(ByteBuf r) {
        ByteBuf payload = r.slice(1, r.readableBytes() - 1);
        int type = r.getUnsignedByte(0);
        ensureLogSpace();
        Object result = apply(0, type, payload.duplicate());
        log.append(type, payload);
        commitAndWait();
        return result;
    }

    /** Applies one record: at replay, and for new operations before they are logged. Under the lock. */
    private Object apply(long sequence, int type, ByteBuf p) {
        long id = p.readLongLE();
        nextVolumeId = Math.max(nextVolumeId, id + 1);
        switch (type) {
            case REC_CREATE -> {
                int typeAndFlags = p.readUnsignedByte();
                VolumeType vt = VolumeType.of(typeAndFlags & 0x7F);
                boolean thick = (typeAndFlags & 0x80) != 0;
                long size = p.readLongLE();
                int bs = p.readUnsignedShortLE();
                byte[] nguid = new byte[16];
                p.readBytes(nguid);
                UUID uuid = new UUID(p.readLong(), p.readLong());
                String name = readString(p);
                VirtualVolume v = new VirtualVolume(id, name, vt, size, bs, nguid, uuid, false, 0,
                        ClusterMap.create(clusters(size), refs), thick);
                volumes.put(id, v);
                if (v.thick()) {
                    thickVolumes.put(id, v);
                }
                return v;
            }
            case REC_DELETE -> {
                VirtualVolume v = volumes.remove(id);
                thickVolumes.remove(id);
                v.deleted = true;
                v.map.release();
                return null;
            }
            case REC_RESIZE -> {
                VirtualVolume v = volumes.get(id);
                long size = p.readLongLE();
                v.map.grow(clusters(size));
                v.size(size);
                return null;
            }
            case REC_MAP -> {
                long lc = p.readLongLE();
                long pc = p.readLongLE();
                if (replaying) {
                    volumes.get(id).map.set(lc, pc);
                }
                return null;
            }
            case REC_UNMAP -> {
                long lc = p.readLongLE();
                if (replaying) {
                    volumes.get(id).map.unmap(lc);
                }
                return null;
            }
            case REC_SNAPSHOT, REC_CLONE, REC_FULL_CLONE -> {
                VirtualVolume source = volumes.get(id);
                long newId = p.readLongLE();
                byte[] nguid = new byte[16];
                p.readBytes(nguid);
                UUID uuid = new UUID(p.readLong(), p.readLong());
                String name = readString(p);
                VirtualVolume v = new VirtualVolume(newId, name, source.type(), source.size(), source.blockSize(), nguid, uuid,
                        type == REC_SNAPSHOT, id, source.map.share());
                v.copyPending = type == REC_FULL_CLONE;
                volumes.put(newId, v);
                nextVolumeId = Math.max(nextVolumeId, newId + 1);
                return v;
            }
            case REC_REVERT -> {
                VirtualVolume v = volumes.get(id);
                VirtualVolume s = volumes.get(p.readLongLE());
                ClusterMap old = v.map;
                v.map = s.map.share();
                old.release();
                return null;
            }
            case REC_METADATA -> {
                VirtualVolume v = volumes.get(id);
                String key = readString(p);
                boolean present = p.readBoolean();
                String value = readString(p);
                if (present) {
                    v.metadata.put(key, value);
                } else {
                    v.metadata.remove(key);
                }
                return null;
            }
            case REC_FULL_COPY -> {
                volumes.get(id).copyPending = p.readByte() != 0;
                return null;
            }
            default -> throw new VolumeException("unknown metadata record type " + type + " at log sequence " + sequence);
        }
    }

    long clusters(long bytes) {
        return (bytes + clusterSize - 1) / clusterSize;
    }

    /**
     * Makes data durable, then the log: what was written before and the map records describing it.
     * Clusters freed before the commit become reusable once it is durable, and clusters a map let go of
     * while others hold them may again be written in place by those. The first commit of an open also
     * stores the log's new epoch in the superblock first (see {@link MetadataLog}).
     */
    synchronized CompletableFuture<Void> commit() {
        long[] released = free.takePending();
        long[] dropped = free.takeDropped();
        CompletableFuture<Void> dataDurable = new CompletableFuture<>();
        device.flush(dataDurable, COMPLETE_VOID);
        CompletableFuture<Void> done = dataDurable.thenCompose(v -> {
            synchronized (Container.this) {
                return log.commit();
            }
        }).whenComplete((v, e) -> {
            synchronized (Container.this) {
                free.commitDone(released, e == null); // not durable: they stay out of use
                free.dropsCommitted(dropped, e == null);
            }
        });
        // Wake waiters only once `done` is complete: notified from inside the stage above, a waiter could
        // run before `done` completes, see it not done and wait again with nobody left to wake it (a commit
        // completed on a device thread, as io_uring's are, hung here for the full 60 s).
        done.whenComplete((v, e) -> {
            synchronized (Container.this) {
                Container.this.notifyAll();
            }
        });
        return done;
    }

    private void commitAndWait() {
        try {
            CompletableFuture<Void> f = commit();
            // The flush completes on the device's thread, which may need this lock to finish: wait without it.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!f.isDone()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new VolumeException("metadata commit did not finish in 60 s");
                }
                wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            }
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VolumeException("interrupted while committing", e);
        } catch (ExecutionException e) {
            throw new VolumeException("metadata commit failed: " + e.getCause().getMessage(), e.getCause());
        }
    }

    /** A map let go of a cluster others still hold: see {@link FreeClusters#mayWriteInPlace}. */
    private void clusterDropped(long cluster) {
        if (replaying || applyingDurable) {
            return; // what replay applies is durable, and so is a record logThenApply applies
        }
        free.droppedPendingCommit(cluster);
    }

    boolean mayWriteInPlace(long cluster) {
        return free.mayWriteInPlace(cluster);
    }

    private void clusterFreed(long cluster) {
        if (replaying) {
            return; // the free list is rebuilt from the refcounts after replay
        }
        free.freedPendingCommit(cluster);
    }

    // --- I/O support for VolumeDevice (under the lock) ---

    BlockDevice physical() {
        return device;
    }

    long clusterOffset(long cluster) {
        return superblock.clusterOffset(cluster);
    }

    ClusterRefcounts refs() {
        return refs;
    }

    long freeClusters() {
        return free.count();
    }

    long reservedClusters() {
        long r = 0;
        for (VirtualVolume v : thickVolumes.values()) {
            r += v.reservedClusters(clusterSize);
        }
        return r;
    }

    /** Free clusters that no thick volume has reserved: what thin volumes and snapshots may take. */
    long unreservedFree() {
        return Math.max(0, free.count() - reservedClusters());
    }

    /** Whether {@code volume} may take {@code clusters} more now. */
    boolean mayAllocate(VirtualVolume volume, long clusters) {
        if (volume.thick()) {
            return clusters <= Math.min(free.count(), unreservedFree() + volume.reservedClusters(clusterSize));
        }
        return clusters <= unreservedFree();
    }

    /** A free cluster, or -1 if the container is full. */
    long allocate() {
        return free.allocate();
    }
    void logMap(long volumeId, long lc, long pc) {
        ByteBuf r = Unpooled.buffer(24);
        r.writeLongLE(volumeId).writeLongLE(lc).writeLongLE(pc);
        log.append(REC_MAP, r);
    }

    void logUnmap(long volumeId, long lc) {
        ByteBuf r = Unpooled.buffer(16);
        r.writeLongLE(volumeId).writeLongLE(lc);
        log.append(REC_UNMAP, r);
    }

    /** True if {@code cluster} is being filled; {@code retry} then runs once it is done. */
    boolean waitIfFilling(long cluster, Runnable retry) {
        ArrayDeque<Runnable> waiters = filling.get(cluster);
        if (waiters == null) {
            return false;
        }
        waiters.add(retry);
        return true;
    }

    void startFilling(long cluster) {
        filling.put(cluster, new ArrayDeque<>());
    }

    /** The fill of {@code cluster} is done: returns the I/O that waited for it, to run outside the lock. */
    ArrayDeque<Runnable> doneFilling(long cluster) {
        return filling.remove(cluster);
    }

    VirtualVolume liveVolume(long id) {
        return volumes.get(id);
    }


    // --- checkpoints ---

    static final int CHECKPOINT_MAGIC = 0x504B4356; // "VCKP" little-endian
    static final int CHECKPOINT_HEADER = 64;
    static final int CHECKPOINT_VERSION_OFFSET = 44;
    static final int CHECKPOINT_NODES_OFFSET = 48;
    /** The format {@link #serialize} writes. Version 1 (flat maps, 0 at the version offset) is still read. */
    static final int CHECKPOINT_VERSION = 2;

    /**
     * The container's metadata no longer fits its checkpoint area, so the log cannot be emptied. Until deletes
     * shrink it, operations that may add to the log are refused: management operations throw this, and writes,
     * Write Zeroes and Deallocate answer {@link IoCompletion#ENOSPC}, which a host sees as Capacity Exceeded
     * (all of them, in place or not: the check comes before a write knows which it is). Reads and deletes go on.
     */
    public static final class MetadataFullException extends VolumeException {
        MetadataFullException(String message) {
            super(message);
        }
    }

    /** Bytes of the last checkpoint image that did not fit its area (0: the last one fitted). */
    private long oversizedImage;
    /** The log's next sequence when that image was made: until the log moves on, the state is the same. */
    private long oversizedAt = -1;
    /** While a delete runs: it may use the log's last quarter when no checkpoint fits. */
    private boolean deleting;

    /**
     * Called before every record is appended: when the log is three-quarters full, write a checkpoint so
     * the log can start again. Must be called before the caller starts filling clusters of its own.
     *
     * <p>If the state no longer fits a checkpoint area the last quarter of the log is kept for deletes, the
     * one thing that makes the state smaller: everything else gets a {@link MetadataFullException}, a delete
     * goes on while the log has a block left, and the next operation after a delete tries the checkpoint
     * again (until something is logged it is not retried: an image of the whole state is not built on every
     * refused write). This holds after a restart too, since open replays the log without checkpointing.
     */
    void ensureLogSpace() {
        if (!replaying) {
            ensureOpen(); // a closed log takes no more records (a new block would never be written nor released)
        }
        if (replaying || log.blocksUsed() < log.capacityBlocks() * 3 / 4) {
            return;
        }
        if (oversizedAt != log.nextSequence()) {
            try {
                checkpoint();
                return;
            } catch (MetadataFullException e) {
                // oversizedImage says how large; fall through
            }
        }
        if (deleting && log.blocksUsed() < log.capacityBlocks()) {
            return;
        }
        throw new MetadataFullException("container " + id() + " is out of metadata space: its volumes, snapshots and maps ("
                + oversizedImage + " bytes) no longer fit its checkpoint area (" + superblock.checkpointLength() + " bytes)"
                + (log.blocksUsed() < log.capacityBlocks()
                        ? ", so only deletes are accepted: delete snapshots or volumes to free space"
                        : " and the log's reserve for deletes is used up as well: it can be read but no longer changed"));
    }

    /**
     * Writes the whole state (volumes, their metadata and maps) to the checkpoint area not in use, then a
     * superblock naming it and the new log head. A cut before the superblock is durable leaves the old
     * checkpoint and the old log in charge, and they are intact: the new checkpoint went to the other
     * area, and the log is not reused before the superblock is written.
     *
     * @throws MetadataFullException if the image is larger than a checkpoint area (nothing is written)
     */
    public synchronized void checkpoint() {
        ensureOpen();
        long started = System.nanoTime();
        // Capture with nothing pending and no cluster half-filled, so the image equals the committed state.
        while (true) {
            commitAndWait();
            ensureOpen(); // the commit let go of the lock: close may have begun meanwhile
            if (log.blocksUsed() - log.committedBlocksSinceHead() == 0 && filling.isEmpty()) {
                break;
            }
            try {
                wait(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VolumeException("interrupted while checkpointing", e);
            }
        }
        long covered = log.nextSequence() - 1;
        long head = log.nextOffset();
        ByteBuf image = serialize(covered);
        try {
            long capacity = superblock.checkpointLength();
            if (image.readableBytes() > capacity) {
                oversizedImage = image.readableBytes();
                oversizedAt = log.nextSequence();
                throw new MetadataFullException("the state of container " + id() + " (" + image.readableBytes()
                        + " bytes) no longer fits the space of its checkpoint area (" + capacity + " bytes): delete snapshots or volumes");
            }
            oversizedImage = 0;
            int target = superblock.activeCheckpoint() == 1 ? 2 : 1;
            long at = target == 1 ? superblock.checkpointAOffset() : superblock.checkpointBOffset();
            int length = image.readableBytes();
            int padded = (length + MetadataLog.BLOCK_SIZE - 1) / MetadataLog.BLOCK_SIZE * MetadataLog.BLOCK_SIZE;
            image.writeZero(padded - length);
            check(awaitIo(device, (d, done) -> d.write(at, padded, image, false, done, COMPLETE_FUTURE)), "checkpoint write");
            check(awaitIo(device, (d, done) -> d.flush(done, COMPLETE_FUTURE)), "checkpoint flush");
            Superblock next = superblock.next(target, covered, head, log.epoch());
            writeSuperblocks(device, next);
            superblock = next;
            log.headMoved();
            log.epochRecorded();
            checkpoints++;
            LOG.log(System.Logger.Level.INFO, "container {0}: checkpoint of {1} bytes at log sequence {2} in {3} ms",
                    id(), length, covered, (System.nanoTime() - started) / 1_000_000);
        } finally {
            image.release();
        }
    }

    /**
     * The checkpoint image of the committed state (version 2). All integers little-endian unless marked BE.
     *
     * <pre>
     *  offset  size  field
     *       0     4  magic "VCKP"
     *       4     4  CRC32C of bytes 8 .. length-1
     *       8     8  length in bytes (this header included; the zero padding to 4 KiB not)
     *      16     8  container UUID, most significant half (BE)
     *      24     8  log sequence this image covers: replay starts at the next
     *      32     8  next volume ID
     *      40     4  volume records
     *      44     4  format version: 2 (version 1 left 0 here)
     *      48     4  node records (version 2)
     *      52    12  zero
     *      64        version 2: the node records, children before parents; node i is the i-th
     *                (layout and encodings: {@link ClusterMap.ImageWriter})
     *        then    the volume records, in ID order:
     *                  8 ID | 1 type (bits 0-6), thick (bit 7) | 8 size in bytes | 2 block size
     *                  16 NGUID | 16 UUID (BE) | 1 read-only | 1 full-clone copy pending | 8 parent ID
     *                  2 + n name (UTF-8) | 4 metadata entries, each 2 + n key and 2 + n value (UTF-8)
     *                  version 2: 4 root node + 1 of the volume's map (0 = nothing mapped)
     *                  version 1: 8 mapped count m, then m x (8 logical cluster, 8 physical cluster)
     * </pre>
     *
     * <p>Version 2 stores the maps as the radix trees they are: a node that several maps share (a snapshot
     * and its volume, a linked clone and its snapshot) is one record however many maps reach it, and a node
     * that a write after a snapshot copied and changed in a few slots is stored as those slots against the
     * node it was copied from. So the image grows with what differs between maps, not with how many maps
     * there are: 256 snapshots of a fully written volume, each taken after writes here and there, cost the
     * volume's map once (about 8 bytes a mapped cluster, in dense leaves) plus, per snapshot, its volume
     * record and about 17 bytes for each leaf it changed and 13 for each inner node above (one changed slot
     * each; 10 and 6 bytes a further slot). Measured: 260 such snapshots of a 10,000-cluster map, 4 writes
     * before each, 126 KB (a version 1 image would be 42 MB). Version 1 stored every map flat, 16 bytes a
     * mapped cluster of every map, and with snapshots ran out of room: a container is still read in that
     * format ({@link #loadCheckpoint}), and writes version 2 at its next checkpoint.
     *
     * <p>The limit that remains: the image must fit one checkpoint area, {@code max(1 MiB, device/128)}, that
     * is {@code clusterSize/128} bytes a data cluster (512 at 64 KiB clusters, 32 at 4 KiB). Maps whose
     * differences are spread thinly over many nodes (at 4 KiB clusters, many snapshots each after writes that
     * touch a cluster in most of the volume's 2 MiB leaf ranges), or volume metadata of kilobytes on
     * every one of a great many volumes, can still exceed it; {@link #ensureLogSpace} says what then. The
     * image is also built in one buffer, so it cannot exceed 2 GiB.
     */
    private ByteBuf serialize(long covered) {
        ByteBuf out = Unpooled.directBuffer(1 << 16);
        try {
            out.writeZero(CHECKPOINT_HEADER);
            ClusterMap.ImageWriter nodes = new ClusterMap.ImageWriter(out);
            Map<Long, Long> roots = new HashMap<>();
            for (VirtualVolume v : imageOrder()) {
                roots.put(v.id(), nodes.add(v.map));
            }
            for (VirtualVolume v : volumes.values()) {
                out.writeLongLE(v.id());
                out.writeByte(v.type().ordinal() | (v.thick() ? 0x80 : 0));
                out.writeLongLE(v.size());
                out.writeShortLE(v.blockSize());
                out.writeBytes(v.nguid());
                out.writeLong(v.uuid().getMostSignificantBits()).writeLong(v.uuid().getLeastSignificantBits());
                out.writeBoolean(v.readOnly());
                out.writeBoolean(v.copyPending);
                out.writeLongLE(v.parentId());
                writeString(out, v.name());
                out.writeIntLE(v.metadata.size());
                for (Map.Entry<String, String> e : v.metadata.entrySet()) {
                    writeString(out, e.getKey());
                    writeString(out, e.getValue());
                }
                out.writeIntLE((int) (long) roots.get(v.id()));
            }
            out.setIntLE(0, CHECKPOINT_MAGIC);
            out.setLongLE(8, out.writerIndex());
            out.setLong(16, superblock.containerId().getMostSignificantBits());
            out.setLongLE(24, covered);
            out.setLongLE(32, nextVolumeId);
            out.setIntLE(40, volumes.size());
            out.setIntLE(CHECKPOINT_VERSION_OFFSET, CHECKPOINT_VERSION);
            out.setIntLE(CHECKPOINT_NODES_OFFSET, nodes.nodes());
            out.setIntLE(4, checkpointCrc(out, out.writerIndex()));
            return out;
        } catch (IndexOutOfBoundsException e) {
            out.release();
            oversizedImage = Integer.MAX_VALUE;
            oversizedAt = log.nextSequence();
            throw new MetadataFullException("the state of container " + id() + " is larger than the 2 GiB a checkpoint image can hold");
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /**
     * The order maps go into the image: family by family (a volume, its snapshots, their clones and theirs),
     * snapshots oldest first and writable volumes after them, so that each map follows the one it most likely
     * differs least from and its changed nodes are stored as small deltas. Only the image's size depends on it.
     */
    private List<VirtualVolume> imageOrder() {
        Map<Long, Long> family = new HashMap<>();
        for (VirtualVolume v : volumes.values()) {
            VirtualVolume top = v;
            for (int hops = 0; hops < volumes.size() && top.parentId() != 0 && volumes.containsKey(top.parentId()); hops++) {
                top = volumes.get(top.parentId());
            }
            family.put(v.id(), top.id());
        }
        List<VirtualVolume> order = new ArrayList<>(volumes.values());
        order.sort(java.util.Comparator.<VirtualVolume>comparingLong(v -> family.get(v.id()))
                .thenComparing(v -> !v.readOnly())
                .thenComparingLong(VirtualVolume::id));
        return order;
    }

    private static int checkpointCrc(ByteBuf buf, int length) {
        java.util.zip.CRC32C c = new java.util.zip.CRC32C();
        c.update(buf.nioBuffer(8, length - 8));
        return (int) c.getValue();
    }

    /**
     * Loads the active checkpoint ({@link #serialize} draws it), version 2 or the flat version 1 of earlier
     * builds. Version 2 rebuilds the maps with the sharing they had (the same nodes, node counts and cluster
     * counts), so memory and copy-on-write after a restart are what they were before it; a version 1 image
     * gives every map its own nodes (correct, as cluster counts still say what is shared, but larger) until
     * the next checkpoint writes version 2, which then keeps whatever sharing later snapshots create.
     */
    private void loadCheckpoint(Superblock sb) {
        long at = sb.activeCheckpoint() == 1 ? sb.checkpointAOffset() : sb.checkpointBOffset();
        ByteBuf head = Unpooled.buffer(MetadataLog.BLOCK_SIZE);
        check(awaitIo(device, (d, done) -> d.read(at, MetadataLog.BLOCK_SIZE, head, done, COMPLETE_FUTURE)), "checkpoint read");
        long length = head.getLongLE(8);
        if (head.getIntLE(0) != CHECKPOINT_MAGIC || length < CHECKPOINT_HEADER || length > sb.checkpointLength()) {
            throw new VolumeException("checkpoint " + sb.activeCheckpoint() + " of container " + sb.containerId() + " is damaged (bad header)");
        }
        int padded = (int) ((length + MetadataLog.BLOCK_SIZE - 1) / MetadataLog.BLOCK_SIZE * MetadataLog.BLOCK_SIZE);
        ByteBuf in = Unpooled.directBuffer(padded);
        try {
            check(awaitIo(device, (d, done) -> d.read(at, padded, in, done, COMPLETE_FUTURE)), "checkpoint read");
            if (in.getIntLE(4) != checkpointCrc(in, (int) length) || in.getLong(16) != sb.containerId().getMostSignificantBits()) {
                throw new VolumeException("checkpoint " + sb.activeCheckpoint() + " of container " + sb.containerId()
                        + " fails its checksum: the metadata is damaged (run fsck)");
            }
            int version = in.getIntLE(CHECKPOINT_VERSION_OFFSET);
            if (version != 0 && version != CHECKPOINT_VERSION) {
                throw new VolumeException("checkpoint " + sb.activeCheckpoint() + " of container " + sb.containerId()
                        + " is in format version " + version + ", which this build does not know (a newer build wrote it)");
            }
            boolean flat = version == 0;
            nextVolumeId = in.getLongLE(32);
            int count = in.getIntLE(40);
            in.readerIndex(CHECKPOINT_HEADER);
            in.writerIndex((int) length);
            ClusterMap.ImageReader nodes = new ClusterMap.ImageReader(refs);
            if (!flat) {
                long nodeCount = in.getUnsignedIntLE(CHECKPOINT_NODES_OFFSET);
                for (long n = 0; n < nodeCount; n++) {
                    nodes.read(in);
                }
            }
            for (int i = 0; i < count; i++) {
                long id = in.readLongLE();
                int typeAndFlags = in.readUnsignedByte();
                VolumeType type = VolumeType.of(typeAndFlags & 0x7F);
                long size = in.readLongLE();
                int bs = in.readUnsignedShortLE();
                byte[] nguid = new byte[16];
                in.readBytes(nguid);
                UUID uuid = new UUID(in.readLong(), in.readLong());
                boolean readOnly = in.readBoolean();
                boolean copyPending = in.readBoolean();
                long parent = in.readLongLE();
                String name = readString(in);
                Map<String, String> metadata = new java.util.LinkedHashMap<>();
                int entries = in.readIntLE();
                for (int m = 0; m < entries; m++) {
                    metadata.put(readString(in), readString(in));
                }
                ClusterMap map;
                if (flat) {
                    map = ClusterMap.create(clusters(size), refs);
                    long mapped = in.readLongLE();
                    for (long m = 0; m < mapped; m++) {
                        map.set(in.readLongLE(), in.readLongLE());
                    }
                } else {
                    map = nodes.map(in.readUnsignedIntLE(), clusters(size));
                }
                VirtualVolume v = new VirtualVolume(id, name, type, size, bs, nguid, uuid, readOnly, parent, map, (typeAndFlags & 0x80) != 0);
                if (v.thick()) {
                    thickVolumes.put(id, v);
                }
                v.copyPending = copyPending;
                v.metadata.putAll(metadata);
                volumes.put(id, v);
            }
            if (!flat) {
                nodes.checkEveryNodeReached();
                if (in.isReadable()) {
                    throw new VolumeException("checkpoint " + sb.activeCheckpoint() + " of container " + sb.containerId()
                            + " is damaged: " + in.readableBytes() + " bytes after its last volume");
                }
            }
        } catch (IndexOutOfBoundsException e) {
            throw new VolumeException("checkpoint " + sb.activeCheckpoint() + " of container " + sb.containerId()
                    + " is damaged: a record runs past its end", e);
        } finally {
            in.release();
        }
    }

    // --- lifecycle ---

    private void ensureOpen() {
        if (closed || closing) {
            throw new VolumeException("container " + id() + " is closed");
        }
    }

    /** Stops without writing anything (fsck's read-only look). */
    synchronized void closeWithoutCommit() {
        closed = true;
        log.discardPending();
    }

    /**
     * Commits what is pending and stops taking operations. The device is the caller's to close, so nothing
     * may reach it once this returns: a full clone's copy still running is told to stop and waited for (it
     * lets the device finish the cluster it is copying, then drops that copy and logs nothing more); what it
     * copied before stays, and the next open resumes the copy from there. A second call, or one while
     * another closes, returns at once.
     */
    @Override
    public void close() {
        List<Thread> running;
        synchronized (this) {
            if (closed || closing) {
                return;
            }
            closing = true;
            running = new ArrayList<>(copiers);
        }
        // Without the lock: a copy needs it to see that it must stop. Its device I/O is bounded (awaitIo).
        for (Thread t : running) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                LOG.log(System.Logger.Level.WARNING, "container {0} closed without waiting for {1}: interrupted", id(), t.getName());
                break;
            }
        }
        synchronized (this) {
            try {
                commitAndWait();
            } catch (VolumeException e) {
                // The device failed (or lost power): what was not committed is not durable, as promised.
                LOG.log(System.Logger.Level.WARNING, "container {0} closed without its last commit: {1}", id(), e.getMessage());
            } finally {
                closed = true;
                log.discardPending();
            }
        }
    }

    // --- small synchronous I/O helpers for start-up paths ---

    private static final IoCompletion<CompletableFuture<Integer>> COMPLETE_FUTURE = (f, errno) -> f.complete(errno);
    private static final IoCompletion<CompletableFuture<Void>> COMPLETE_VOID = (f, errno) -> {
        if (errno == IoCompletion.OK) {
            f.complete(null);
        } else {
            f.completeExceptionally(new VolumeException("device flush failed (errno " + errno + ")"));
        }
    };

    private interface IoCall {
        void start(BlockDevice device, CompletableFuture<Integer> done);
    }

    private static int awaitIo(BlockDevice device, IoCall call) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        call.start(device, done);
        try {
            return done.get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoCompletion.EIO;
        } catch (ExecutionException | TimeoutException e) {
            return IoCompletion.EIO;
        }
    }

    /** A read that waits for its completion (start-up, fsck, log replay); returns the errno. */
    static int readNow(BlockDevice device, long offset, int length, ByteBuf into) {
        return awaitIo(device, (d, done) -> d.read(offset, length, into, done, COMPLETE_FUTURE));
    }

    private static void check(int errno, String what) {
        if (errno != IoCompletion.OK) {
            throw new VolumeException(what + " failed (errno " + errno + ")");
        }
    }

    static ByteBuf directBuffer(int size) {
        return PooledByteBufAllocator.DEFAULT.directBuffer(size, size);
    }
}
