package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32C;

/**
 * A RAID-1 mirror of two devices, itself a {@link BlockDevice}: the container sits on it as on one disk.
 * Losing one leg loses nothing and I/O continues on the other; a replacement leg is copied from the
 * survivor online ({@link #replace}, {@link #resync}) with progress ({@link #resyncProgress}).
 *
 * <h2>On-disk layout (each leg)</h2>
 * <pre>
 *   leg offset: 0        4 KiB      8 KiB                 1 MiB                               leg size
 *               +---------+---------+---------- ... -------+------------------- ... ---------+--------+
 *               | label   | label   |   unused             |  mirrored data: mirror offset 0  | unused |
 *               | copy 0  | copy 1  |                      |  ... size()                      | (tail) |
 *               +---------+---------+---------- ... -------+------------------- ... ---------+--------+
 *   mirror offset x  ==  leg offset x + DATA_OFFSET (1 MiB); size() = the size recorded at creation, at
 *   most min(leg sizes) - 1 MiB. 1 MiB keeps the data area aligned to any cluster, erase block or chunk.
 *
 *   label (one 4 KiB copy; the copy for generation g is at (g &amp; 1) * 4096, so a torn label write leaves
 *   the previous generation readable in the other copy; the valid copy with the higher generation wins):
 *    offset size field
 *         0    8  magic "VVGMIRR1"
 *         8    4  format version (1)
 *        12    4  this leg's index (0 or 1)
 *        16   16  mirror UUID (both legs of a pair carry the same one)
 *        32    8  generation (bumped by every label change; both legs written with the same one)
 *        40    8  mirrored size in bytes
 *        48    4  block size
 *        52    1  state of leg 0 as last known    53  1  state of leg 1   (1 in sync, 2 stale, 3 resyncing)
 *        56    8  resync watermark: bytes of the data area known copied (flushed) to the resyncing leg
 *      4092    4  CRC32C of bytes 0..4091
 *   integers little-endian, the UUID big-endian (as java.util.UUID's two longs).
 * </pre>
 *
 * <h2>Which label to believe</h2>
 * At {@link #open} the valid label with the higher generation is the authority and its per-leg states
 * apply to both legs. A label change that demotes a leg (a failure) is written to the survivor only,
 * bumping the generation, so the failed leg keeps an older label that the survivor's newer one overrules:
 * a restart never reads a stale leg. Other changes (resync start, progress, done) are written to both
 * legs, survivor first; a cut between the two leaves the survivor one generation ahead, and what it says
 * about the other leg was already true (data is flushed before a watermark or "in sync" is recorded).
 * A missing leg is recorded stale at open. A blank leg (no valid label) next to a labelled one is a
 * replacement and is stale; a leg of another mirror is refused. Two blank legs are a new mirror, declared
 * in sync without a copy: what was on them before is not data anybody wrote through the mirror, and the
 * container formats over it.
 *
 * <h2>Requests</h2>
 * Writes, write-zeroes, deallocates and flushes go to every in-sync leg. A leg is failed when it reports
 * an error and an in-sync leg succeeded on the same request: the mirror stops using it, bumps the
 * generation, writes "that leg is stale" to the survivor's label (write + flush), and only then completes
 * the request, and every write or flush that completes while that label is not durable waits for it too
 * (a write sent to the survivor alone after the failure must not be acknowledged while a restart could
 * still trust the other leg). An error on every leg is that request's error, not a leg's: the last copy
 * is not thrown away for one bad block, and a power cut (every device failing at once) changes no label.
 * Reads go to the first in-sync leg (leg 0 when both are), so that after an unclean stop the host always
 * sees one leg's version of unflushed blocks; an error there is retried on the other in-sync leg, and if
 * that succeeds the first leg is failed.
 *
 * <h2>Resync</h2>
 * The target leg is copied from the survivor in {@link #RESYNC_CHUNK} chunks by a dedicated thread, in
 * address order; the watermark is the end of the copied prefix. While it runs, writes that start below
 * the watermark go to both legs (the target holds that range, so it must follow it), writes that start at
 * or above it go to the survivor only (the copy will bring them), and writes that touch the chunk being
 * copied are held back until its copy is done, then sent to both. Before copying a chunk the copier waits
 * for every in-flight write overlapping it to complete, so the chunk it reads from the survivor already
 * holds them; nothing newer can be overwritten by the copy because nothing newer can start until it is
 * done. Every {@link #LABEL_EVERY_CHUNKS} chunks the target is flushed and the watermark recorded on both
 * labels, so a restart resumes the copy there ({@link #open} restarts a recorded resync by itself). When
 * the copy reaches the end the target is flushed and both labels say in sync.
 *
 * <h2>Threads</h2>
 * Any thread may submit requests; completions come on whatever thread the legs complete on (maybe the
 * submitting one). The steady state takes no lock: each request reads the immutable {@link Layout} once
 * from a volatile field. State changes (failure, resync start and end, label writes) and requests while a
 * resync runs synchronize on this object; those paths are rare or already slow. Label writes are
 * asynchronous and serialised (one in flight; a newer layout is written after it). The resync thread is
 * the only one that blocks, and only on its own I/O and on the in-flight writes of its chunk.
 *
 * <p>The legs remain the caller's: {@link #close} flushes them but does not close them.
 */
public final class MirroredDevice implements BlockDevice {

    /** Where the mirrored data starts on each leg. */
    public static final long DATA_OFFSET = 1L << 20;
    /** The unit of the resync copy. */
    public static final int RESYNC_CHUNK = 1 << 20;
    /** How often (in chunks) the resync watermark is made durable. */
    public static final int LABEL_EVERY_CHUNKS = 64;

    private static final System.Logger LOG = System.getLogger("vvolgate.mirror");

    /** The mirror as the control plane sees it. */
    public enum State {
        /** Both legs hold all data. */
        IN_SYNC,
        /** One leg is stale or missing; I/O runs on the other. */
        DEGRADED,
        /** One leg is being copied from the other. */
        RESYNCING,
        /** No leg can be trusted any more (the survivor failed too); every request fails. */
        FAILED
    }

    /** One leg's state as recorded in the labels. */
    public enum LegState {
        IN_SYNC(1), STALE(2), RESYNCING(3);

        final int code;

        LegState(int code) {
            this.code = code;
        }

        static LegState of(int code) {
            for (LegState s : values()) {
                if (s.code == code) {
                    return s;
                }
            }
            return null;
        }
    }

    /** Bytes of the data area copied to the resyncing leg, of {@code total}. */
    public record ResyncProgress(long done, long total) {
        public double fraction() {
            return total == 0 ? 1.0 : (double) done / total;
        }
    }

    /** Cumulative counters since open. */
    public record Counters(long reads, long writes, long flushes, long readRetries, long legFailures,
                           long resyncBytes, long heldBackWrites) {
    }

    // ---------------------------------------------------------------------------------------------------
    // Label

    /** One copy of a leg's label; see the class comment for the layout. */
    record Label(UUID mirrorId, int legIndex, long generation, long size, int blockSize,
                 LegState state0, LegState state1, long watermark) {
        static final int SIZE = 4096;
        static final byte[] MAGIC = "VVGMIRR1".getBytes(StandardCharsets.US_ASCII);
        static final int VERSION = 1;
        static final int VERSION_OFFSET = 8;
        static final int LEG_OFFSET = 12;
        static final int UUID_OFFSET = 16;
        static final int GENERATION_OFFSET = 32;
        static final int SIZE_OFFSET = 40;
        static final int BLOCK_SIZE_OFFSET = 48;
        static final int STATE0_OFFSET = 52;
        static final int STATE1_OFFSET = 53;
        static final int WATERMARK_OFFSET = 56;
        static final int CRC_OFFSET = SIZE - 4;

        static long copyOffset(long generation) {
            return (generation & 1) * SIZE;
        }

        LegState state(int leg) {
            return leg == 0 ? state0 : state1;
        }

        void writeTo(ByteBuf out) {
            int base = out.writerIndex();
            out.writeZero(SIZE);
            out.setBytes(base, MAGIC);
            out.setIntLE(base + VERSION_OFFSET, VERSION);
            out.setIntLE(base + LEG_OFFSET, legIndex);
            out.setLong(base + UUID_OFFSET, mirrorId.getMostSignificantBits());
            out.setLong(base + UUID_OFFSET + 8, mirrorId.getLeastSignificantBits());
            out.setLongLE(base + GENERATION_OFFSET, generation);
            out.setLongLE(base + SIZE_OFFSET, size);
            out.setIntLE(base + BLOCK_SIZE_OFFSET, blockSize);
            out.setByte(base + STATE0_OFFSET, state0.code);
            out.setByte(base + STATE1_OFFSET, state1.code);
            out.setLongLE(base + WATERMARK_OFFSET, watermark);
            out.setIntLE(base + CRC_OFFSET, crc(out, base));
        }

        /** One copy, or null if it is not a valid label (blank, torn, foreign or of an unknown version). */
        static Label readFrom(ByteBuf in, int base) {
            for (int i = 0; i < MAGIC.length; i++) {
                if (in.getByte(base + i) != MAGIC[i]) {
                    return null;
                }
            }
            if (in.getIntLE(base + CRC_OFFSET) != crc(in, base) || in.getIntLE(base + VERSION_OFFSET) != VERSION) {
                return null;
            }
            int leg = in.getIntLE(base + LEG_OFFSET);
            LegState s0 = LegState.of(in.getByte(base + STATE0_OFFSET));
            LegState s1 = LegState.of(in.getByte(base + STATE1_OFFSET));
            if ((leg != 0 && leg != 1) || s0 == null || s1 == null) {
                return null;
            }
            return new Label(new UUID(in.getLong(base + UUID_OFFSET), in.getLong(base + UUID_OFFSET + 8)), leg,
                    in.getLongLE(base + GENERATION_OFFSET), in.getLongLE(base + SIZE_OFFSET),
                    in.getIntLE(base + BLOCK_SIZE_OFFSET), s0, s1, in.getLongLE(base + WATERMARK_OFFSET));
        }

        static Label newest(Label a, Label b) {
            if (a == null) {
                return b;
            }
            if (b == null) {
                return a;
            }
            return b.generation > a.generation ? b : a;
        }

        private static int crc(ByteBuf buf, int base) {
            CRC32C crc = new CRC32C();
            crc.update(buf.nioBuffer(base, CRC_OFFSET));
            return (int) crc.getValue();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // State

    /** Which devices are the legs and what they hold; immutable, replaced as a whole on every change. */
    private record Layout(BlockDevice leg0, BlockDevice leg1, LegState state0, LegState state1,
                          long generation, long watermark, boolean failed) {
        BlockDevice leg(int i) {
            return i == 0 ? leg0 : leg1;
        }

        LegState state(int i) {
            return i == 0 ? state0 : state1;
        }

        boolean inSync(int i) {
            return state(i) == LegState.IN_SYNC && leg(i) != null;
        }

        boolean resyncing() {
            return state0 == LegState.RESYNCING || state1 == LegState.RESYNCING;
        }

        Layout with(int i, BlockDevice device, LegState state) {
            return i == 0
                    ? new Layout(device, leg1, state, state1, generation + 1, watermark, failed)
                    : new Layout(leg0, device, state0, state, generation + 1, watermark, failed);
        }

        Layout withWatermark(long w) {
            return new Layout(leg0, leg1, state0, state1, generation + 1, w, failed);
        }

        Layout asFailed() {
            return new Layout(leg0, leg1, state0, state1, generation, watermark, true);
        }

        Label label(UUID id, int leg, long size, int blockSize) {
            return new Label(id, leg, generation, size, blockSize, state0, state1, watermark);
        }
    }

    private final UUID id;
    private final long size;
    private final int blockSize;
    private volatile Layout layout;
    /** Generation of the last label change that demoted a leg; acknowledgements wait until it is durable. */
    private volatile long demotedGeneration;
    /** Highest generation written and flushed to every leg it was meant for. */
    private volatile long durableGeneration;
    private volatile int lastFailedLeg = -1;
    private int labelEveryChunks = LABEL_EVERY_CHUNKS;

    // Guarded by this.
    private boolean labelInFlight;
    private final List<Op> labelWaiters = new ArrayList<>();
    private Resync resync;
    private boolean closed;

    private final LongAdder reads = new LongAdder();
    private final LongAdder writes = new LongAdder();
    private final LongAdder flushes = new LongAdder();
    private final LongAdder readRetries = new LongAdder();
    private final LongAdder legFailures = new LongAdder();
    private final LongAdder resyncBytes = new LongAdder();
    private final LongAdder heldBackWrites = new LongAdder();

    private MirroredDevice(UUID id, long size, int blockSize, Layout layout) {
        this.id = id;
        this.size = size;
        this.blockSize = blockSize;
        this.layout = layout;
    }

    // ---------------------------------------------------------------------------------------------------
    // Open

    /**
     * Opens (or creates, if both are blank) the mirror on two devices, either of which may be null
     * (missing): the mirror then runs degraded on the other. Blocks while it reads and writes the labels.
     * A leg recorded as resyncing resumes its copy in the background; a stale leg waits for
     * {@link #resync()} or {@link #replace}.
     *
     * @throws IllegalStateException if the devices are not two legs of one mirror, or no present leg is
     *                               in sync (the only copy would be stale)
     */
    public static MirroredDevice open(BlockDevice a, BlockDevice b) {
        return open(a, b, LABEL_EVERY_CHUNKS);
    }

    /** As {@link #open(BlockDevice, BlockDevice)}, recording resync progress every {@code labelEveryChunks} chunks. */
    static MirroredDevice open(BlockDevice a, BlockDevice b, int labelEveryChunks) {
        if (labelEveryChunks < 1) {
            throw new IllegalArgumentException("labelEveryChunks must be positive: " + labelEveryChunks);
        }
        if (a == null && b == null) {
            throw new IllegalArgumentException("a mirror needs at least one leg");
        }
        Label la = null;
        Label lb = null;
        try {
            la = a == null ? null : readLabel(a);
        } catch (IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "mirror leg a is unreadable, opening without it: {0}", e.getMessage());
            a = null;
        }
        try {
            lb = b == null ? null : readLabel(b);
        } catch (IllegalStateException e) {
            LOG.log(System.Logger.Level.WARNING, "mirror leg b is unreadable, opening without it: {0}", e.getMessage());
            b = null;
        }
        if (a == null && b == null) {
            throw new IllegalStateException("no mirror leg is readable");
        }
        MirroredDevice mirror;
        if (la == null && lb == null) {
            mirror = create(a, b);
        } else {
            mirror = assemble(a, la, b, lb);
        }
        mirror.labelEveryChunks = labelEveryChunks;
        mirror.persistLayout();
        int errno = mirror.awaitDurable(mirror.layout.generation);
        if (errno != IoCompletion.OK) {
            throw new IllegalStateException("cannot write the mirror labels (errno " + errno + ")");
        }
        Layout l = mirror.layout;
        for (int leg = 0; leg < 2; leg++) {
            if (l.state(leg) == LegState.RESYNCING) {
                mirror.startResync(leg, l.leg(leg), l.watermark, false);
            }
        }
        LOG.log(System.Logger.Level.INFO, "mirror {0} opened: {1}, legs {2}/{3}, generation {4}",
                mirror.id, mirror.state(), l.state0, l.state1, l.generation);
        return mirror;
    }

    private static MirroredDevice create(BlockDevice a, BlockDevice b) {
        int bs = Math.max(a == null ? 512 : a.blockSize(), b == null ? 512 : b.blockSize());
        long smallest = Math.min(a == null ? Long.MAX_VALUE : a.size(), b == null ? Long.MAX_VALUE : b.size());
        long size = (smallest - DATA_OFFSET) / bs * bs;
        if (size <= 0) {
            throw new IllegalArgumentException("a leg of " + smallest + " bytes is too small for a mirror");
        }
        Layout l = new Layout(a, b, a == null ? LegState.STALE : LegState.IN_SYNC,
                b == null ? LegState.STALE : LegState.IN_SYNC, 1, 0, false);
        return new MirroredDevice(UUID.randomUUID(), size, bs, l);
    }

    private static MirroredDevice assemble(BlockDevice a, Label la, BlockDevice b, Label lb) {
        // The authority: the newer label; on a tie, the one whose own leg is in sync.
        boolean aRules = la != null && (lb == null || la.generation > lb.generation
                || (la.generation == lb.generation && la.state(la.legIndex) == LegState.IN_SYNC));
        Label auth = aRules ? la : lb;
        Label other = aRules ? lb : la;
        BlockDevice authDevice = aRules ? a : b;
        BlockDevice otherDevice = aRules ? b : a;
        if (other != null && !other.mirrorId.equals(auth.mirrorId)) {
            throw new IllegalStateException("the legs belong to different mirrors: " + auth.mirrorId + " and " + other.mirrorId);
        }
        if (other != null && other.legIndex == auth.legIndex) {
            throw new IllegalStateException("both devices are leg " + auth.legIndex + " of mirror " + auth.mirrorId);
        }
        int authLeg = auth.legIndex;
        LegState authState = auth.state(authLeg);
        LegState otherState = auth.state(1 - authLeg);
        if (otherDevice == null || other == null) {
            otherState = LegState.STALE; // missing, or a blank replacement
        }
        if (authState != LegState.IN_SYNC) {
            if (otherState == LegState.IN_SYNC) {
                throw new IllegalStateException("mirror " + auth.mirrorId + ": labels disagree (leg " + authLeg + " is "
                        + authState + " in the newest label)");
            }
            throw new IllegalStateException("mirror " + auth.mirrorId + ": no in-sync leg is present (leg " + authLeg
                    + " is " + authState + ", the other is " + (otherDevice == null ? "missing" : otherState) + ")");
        }
        for (BlockDevice d : new BlockDevice[] {authDevice, otherDevice}) {
            if (d != null && (d.size() - DATA_OFFSET < auth.size || d.blockSize() > auth.blockSize)) {
                throw new IllegalStateException("mirror " + auth.mirrorId + ": a leg of " + d.size() + " bytes and "
                        + d.blockSize() + "-byte blocks cannot hold " + auth.size + " bytes in " + auth.blockSize + "-byte blocks");
            }
        }
        BlockDevice leg0 = authLeg == 0 ? authDevice : otherDevice;
        BlockDevice leg1 = authLeg == 0 ? otherDevice : authDevice;
        LegState s0 = authLeg == 0 ? authState : otherState;
        LegState s1 = authLeg == 0 ? otherState : authState;
        long watermark = otherState == LegState.RESYNCING ? auth.watermark : 0;
        // One generation on: the open itself is recorded, and whatever open decided (a missing leg stale)
        // is durable before the first request.
        Layout l = new Layout(leg0, leg1, s0, s1, auth.generation + 1, watermark, false);
        MirroredDevice m = new MirroredDevice(auth.mirrorId, auth.size, auth.blockSize, l);
        m.durableGeneration = auth.generation;
        m.demotedGeneration = l.generation;
        return m;
    }

    private static Label readLabel(BlockDevice device) {
        ByteBuf buf = Unpooled.buffer(2 * Label.SIZE);
        try {
            int errno = await(device, (d, f) -> d.read(0, 2 * Label.SIZE, buf, f, FUTURE));
            if (errno != IoCompletion.OK) {
                throw new IllegalStateException("cannot read the mirror label (errno " + errno + ")");
            }
            return Label.newest(Label.readFrom(buf, 0), Label.readFrom(buf, Label.SIZE));
        } finally {
            buf.release();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Control plane

    public UUID id() {
        return id;
    }

    public State state() {
        Layout l = layout;
        if (l.failed) {
            return State.FAILED;
        }
        if (l.resyncing()) {
            return State.RESYNCING;
        }
        return l.inSync(0) && l.inSync(1) ? State.IN_SYNC : State.DEGRADED;
    }

    /** The recorded state of leg 0 or 1. A missing leg is stale. */
    public LegState legState(int leg) {
        return layout.state(leg);
    }

    /** The leg that was last failed by an error since open, or -1; see {@link #legState} for the current picture. */
    public int failedLeg() {
        return lastFailedLeg;
    }

    /** The label generation currently in force. */
    public long generation() {
        return layout.generation;
    }

    public ResyncProgress resyncProgress() {
        Layout l = layout;
        synchronized (this) {
            if (resync != null) {
                return new ResyncProgress(resync.watermark, size);
            }
        }
        return new ResyncProgress(l.inSync(0) && l.inSync(1) ? size : 0, size);
    }

    /**
     * The running resync's future (completes when both legs are in sync), e.g. of one {@link #open} resumed;
     * a completed future if none runs.
     */
    public synchronized CompletableFuture<Void> resyncDone() {
        return resync != null ? resync.done : CompletableFuture.completedFuture(null);
    }

    public Counters counters() {
        return new Counters(reads.sum(), writes.sum(), flushes.sum(), readRetries.sum(), legFailures.sum(),
                resyncBytes.sum(), heldBackWrites.sum());
    }

    /**
     * Makes {@code newLeg} the leg in place of the stale or missing one and copies the survivor onto it in
     * the background. I/O continues meanwhile.
     *
     * @return completes when both legs are in sync and the labels say so; exceptionally if the copy fails
     * @throws IllegalStateException if no leg is stale, a resync already runs, or {@code newLeg} is too small
     */
    public CompletableFuture<Void> replace(BlockDevice newLeg) {
        if (newLeg.size() - DATA_OFFSET < size || newLeg.blockSize() > blockSize) {
            throw new IllegalStateException("a device of " + newLeg.size() + " bytes and " + newLeg.blockSize()
                    + "-byte blocks cannot hold this mirror's " + size + " bytes in " + blockSize + "-byte blocks");
        }
        return startResync(staleLeg(), newLeg, 0, true);
    }

    /** Copies the survivor onto the stale leg that is still present (e.g. one that came back after a restart). */
    public CompletableFuture<Void> resync() {
        int leg = staleLeg();
        BlockDevice device = layout.leg(leg);
        if (device == null) {
            throw new IllegalStateException("leg " + leg + " is missing; replace it with a new device");
        }
        return startResync(leg, device, 0, true);
    }

    private int staleLeg() {
        Layout l = layout;
        if (l.failed) {
            throw new IllegalStateException("mirror " + id + " has failed: no leg to copy from");
        }
        for (int leg = 0; leg < 2; leg++) {
            if (l.state(leg) == LegState.STALE && l.inSync(1 - leg)) {
                return leg;
            }
        }
        throw new IllegalStateException("mirror " + id + " is " + state() + ": no stale leg to resync");
    }

    // ---------------------------------------------------------------------------------------------------
    // BlockDevice

    @Override
    public long size() {
        return size;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean volatileWriteCache() {
        Layout l = layout;
        return (l.leg0 != null && l.leg0.volatileWriteCache()) || (l.leg1 != null && l.leg1.volatileWriteCache());
    }

    @Override
    public DeviceHealth health() {
        Layout l = layout;
        int primary = l.inSync(0) ? 0 : 1;
        DeviceHealth h = l.leg(primary) == null ? DeviceHealth.UNKNOWN : l.leg(primary).health();
        BlockDevice other = l.leg(1 - primary);
        long errors = h.mediaErrors() + (other == null ? 0 : other.health().mediaErrors());
        return new DeviceHealth(h.temperatureKelvin(), h.availableSparePercent(), h.percentageUsed(), errors, h.powerOnHours());
    }

    @Override
    @SuppressWarnings("unchecked")
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        int errno = check(offset, length);
        Layout l = layout;
        if (errno == IoCompletion.OK && (l.failed || closed)) {
            errno = IoCompletion.EIO;
        }
        if (errno != IoCompletion.OK) {
            completion.completed(attachment, errno);
            return;
        }
        reads.increment();
        ReadOp op = new ReadOp(offset, length, dst, attachment, (IoCompletion<Object>) completion);
        op.leg = l.inSync(0) ? 0 : 1;
        l.leg(op.leg).read(offset + DATA_OFFSET, length, dst, op, onRead);
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
        submit(Kind.WRITE, offset, length, src, fua, attachment, completion);
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        submit(Kind.ZEROES, offset, length, null, fua, attachment, completion);
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        submit(Kind.DEALLOCATE, offset, length, null, false, attachment, completion);
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        submit(Kind.FLUSH, 0, 0, null, false, attachment, completion);
    }

    /** Stops a running resync and flushes the legs; the legs stay open (they are the caller's). */
    @Override
    public void close() {
        Thread copier = null;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            if (resync != null) {
                resync.aborted = true;
                copier = resync.thread;
                notifyAll();
            }
        }
        if (copier != null) {
            try {
                copier.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Layout l = layout;
        for (int leg = 0; leg < 2; leg++) {
            if (l.leg(leg) != null && l.state(leg) != LegState.STALE) {
                await(l.leg(leg), (d, f) -> d.flush(f, FUTURE));
            }
        }
    }

    @Override
    public String toString() {
        Layout l = layout;
        return "MirroredDevice[" + id + ", " + state() + ", leg0 " + l.state0 + ", leg1 " + l.state1 + "]";
    }

    private int check(long offset, long length) {
        return DeviceRange.check(offset, length, size, blockSize);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reads

    private static final class ReadOp {
        final long offset;
        final int length;
        final ByteBuf dst;
        final int base;
        final Object attachment;
        final IoCompletion<Object> completion;
        int leg;
        boolean retried;

        ReadOp(long offset, int length, ByteBuf dst, Object attachment, IoCompletion<Object> completion) {
            this.offset = offset;
            this.length = length;
            this.dst = dst;
            this.base = dst.writerIndex();
            this.attachment = attachment;
            this.completion = completion;
        }
    }

    private final IoCompletion<ReadOp> onRead = this::readDone;

    private void readDone(ReadOp op, int errno) {
        if (errno == IoCompletion.OK) {
            if (op.retried) {
                failLeg(1 - op.leg); // the other leg has the data; the one that erred is no longer trusted
            }
            op.completion.completed(op.attachment, IoCompletion.OK);
            return;
        }
        Layout l = layout;
        int other = 1 - op.leg;
        if (errno != IoCompletion.ERANGE && !op.retried && l.inSync(other)) {
            readRetries.increment();
            op.retried = true;
            op.leg = other;
            op.dst.writerIndex(op.base); // a failed read may have written part of dst; start again
            l.leg(other).read(op.offset + DATA_OFFSET, op.length, op.dst, op, onRead);
            return;
        }
        op.completion.completed(op.attachment, errno);
    }

    // ---------------------------------------------------------------------------------------------------
    // Writes, zeroes, deallocates, flushes

    private enum Kind { WRITE, ZEROES, DEALLOCATE, FLUSH }

    /** Something that may wait for a label to become durable. */
    private abstract static class Op {
        long waitFor;

        /** The label this op waited for is durable (OK) or can no longer be written (EIO). */
        abstract void labelResolved(int errno);
    }

    private final class Mutation extends Op {
        final Kind kind;
        final long offset;
        final long length;
        final ByteBuf src;
        final boolean fua;
        final Object attachment;
        final IoCompletion<Object> completion;
        final AtomicInteger pending = new AtomicInteger();
        boolean sent0;
        boolean sent1;
        /** Legs in sync when the request was sent: only their success can stand in for another's failure. */
        boolean synced0;
        boolean synced1;
        int errno0;
        int errno1;
        Resync tracked;

        Mutation(Kind kind, long offset, long length, ByteBuf src, boolean fua, Object attachment,
                 IoCompletion<Object> completion) {
            this.kind = kind;
            this.offset = offset;
            this.length = length;
            this.src = src;
            this.fua = fua;
            this.attachment = attachment;
            this.completion = completion;
        }

        long end() {
            return offset + length;
        }

        @Override
        void labelResolved(int errno) {
            completion.completed(attachment, errno);
        }
    }

    private final IoCompletion<Mutation> onLeg0 = (op, errno) -> legDone(op, 0, errno);
    private final IoCompletion<Mutation> onLeg1 = (op, errno) -> legDone(op, 1, errno);

    @SuppressWarnings("unchecked")
    private <A> void submit(Kind kind, long offset, long length, ByteBuf src, boolean fua, A attachment,
                            IoCompletion<A> completion) {
        int errno = kind == Kind.FLUSH ? IoCompletion.OK : check(offset, length);
        if (errno == IoCompletion.OK && kind == Kind.WRITE && src.readableBytes() < length) {
            errno = IoCompletion.EIO;
        }
        if (errno == IoCompletion.OK && (layout.failed || closed)) {
            errno = IoCompletion.EIO;
        }
        if (errno != IoCompletion.OK) {
            completion.completed(attachment, errno);
            return;
        }
        (kind == Kind.FLUSH ? flushes : writes).increment();
        dispatch(new Mutation(kind, offset, length, src, fua, attachment, (IoCompletion<Object>) completion));
    }

    private void dispatch(Mutation op) {
        Layout l = layout;
        if (l.failed) {
            op.completion.completed(op.attachment, IoCompletion.EIO);
            return;
        }
        if (op.kind != Kind.FLUSH && l.resyncing()) {
            dispatchDuringResync(op);
            return;
        }
        // A flush also reaches a resyncing leg: its copied prefix must become durable with everything else.
        boolean to0 = l.leg0 != null && (l.state0 == LegState.IN_SYNC || (op.kind == Kind.FLUSH && l.state0 == LegState.RESYNCING));
        boolean to1 = l.leg1 != null && (l.state1 == LegState.IN_SYNC || (op.kind == Kind.FLUSH && l.state1 == LegState.RESYNCING));
        send(op, l, to0, to1);
    }

    private void send(Mutation op, Layout l, boolean to0, boolean to1) {
        op.sent0 = to0;
        op.sent1 = to1;
        op.synced0 = l.inSync(0);
        op.synced1 = l.inSync(1);
        op.pending.set((to0 ? 1 : 0) + (to1 ? 1 : 0));
        if (!to0 && !to1) {
            op.completion.completed(op.attachment, IoCompletion.EIO);
            return;
        }
        if (to0) {
            sendTo(op, l.leg0, onLeg0);
        }
        if (to1) {
            sendTo(op, l.leg1, onLeg1);
        }
    }

    private static void sendTo(Mutation op, BlockDevice leg, IoCompletion<Mutation> done) {
        long at = op.offset + DATA_OFFSET;
        switch (op.kind) {
            case WRITE -> leg.write(at, (int) op.length, op.src, op.fua, op, done);
            case ZEROES -> leg.writeZeroes(at, op.length, op.fua, op, done);
            case DEALLOCATE -> leg.deallocate(at, op.length, op, done);
            case FLUSH -> leg.flush(op, done);
        }
    }

    private void legDone(Mutation op, int leg, int errno) {
        if (leg == 0) {
            op.errno0 = errno;
        } else {
            op.errno1 = errno;
        }
        // The atomic decrement publishes the errno written above to whichever thread completes last.
        if (op.pending.decrementAndGet() != 0) {
            return;
        }
        if (op.tracked != null) {
            untrack(op);
        }
        int errno0 = op.sent0 ? op.errno0 : IoCompletion.OK;
        int errno1 = op.sent1 ? op.errno1 : IoCompletion.OK;
        int result;
        if (errno0 == IoCompletion.OK && errno1 == IoCompletion.OK) {
            result = IoCompletion.OK;
        } else if (errno0 != IoCompletion.OK && errno1 != IoCompletion.OK) {
            result = errno0; // every leg failed: the request's error, not a leg's
        } else {
            int bad = errno0 != IoCompletion.OK ? 0 : 1;
            boolean goodWasInSync = bad == 0 ? op.sent1 && op.synced1 : op.sent0 && op.synced0;
            if (goodWasInSync) {
                failLeg(bad);
                result = IoCompletion.OK;
            } else {
                // Only a resync target succeeded: it does not hold everything, so the request failed.
                result = bad == 0 ? errno0 : errno1;
            }
        }
        finish(op, result);
    }

    /** Completes a mutation, first waiting for a pending "leg failed" label if there is one. */
    private void finish(Op op, int errno) {
        if (errno == IoCompletion.OK && durableGeneration < demotedGeneration) {
            synchronized (this) {
                long need = demotedGeneration;
                if (layout.failed) {
                    errno = IoCompletion.EIO;
                } else if (durableGeneration < need) {
                    op.waitFor = need;
                    labelWaiters.add(op);
                    return;
                }
            }
        }
        op.labelResolved(errno);
    }

    // ---------------------------------------------------------------------------------------------------
    // Failure

    /** Stops using {@code leg} and records it stale on the survivor; see the class comment. */
    private void failLeg(int leg) {
        List<Op> release = null;
        synchronized (this) {
            Layout l = layout;
            if (l.failed || l.state(leg) == LegState.STALE) {
                return;
            }
            legFailures.increment();
            lastFailedLeg = leg;
            if (resync != null && resync.target == leg) {
                resync.aborted = true;
                notifyAll();
            }
            if (!l.inSync(1 - leg)) {
                // The last in-sync leg: nothing can be trusted or recorded any more.
                layout = l.asFailed();
                if (resync != null) {
                    resync.aborted = true;
                    notifyAll();
                }
                release = new ArrayList<>(labelWaiters);
                labelWaiters.clear();
            } else {
                Layout next = l.with(leg, l.leg(leg), LegState.STALE).withWatermark(0);
                demotedGeneration = next.generation; // before the layout, so a writer that sees it waits
                layout = next;
            }
        }
        LOG.log(System.Logger.Level.WARNING, "mirror {0}: leg {1} failed; {2}", id, leg,
                release != null ? "no in-sync leg is left" : "continuing on the other leg");
        if (release != null) {
            for (Op op : release) {
                op.labelResolved(IoCompletion.EIO);
            }
            return;
        }
        persistLayout();
    }

    // ---------------------------------------------------------------------------------------------------
    // Labels

    /** One label write (write + flush) to every leg that is not stale, of one layout snapshot. */
    private final class LabelWrite {
        final Layout snapshot;
        final AtomicInteger pending = new AtomicInteger();
        final ByteBuf[] bufs = new ByteBuf[2];
        final boolean[] flushing = new boolean[2];
        final int[] errnos = new int[2];
        final boolean[] sent = new boolean[2];

        LabelWrite(Layout snapshot) {
            this.snapshot = snapshot;
        }

        void step(int leg, int errno) {
            if (errno == IoCompletion.OK && !flushing[leg]) {
                flushing[leg] = true;
                snapshot.leg(leg).flush(this, leg == 0 ? onLabel0 : onLabel1);
                return;
            }
            errnos[leg] = errno;
            bufs[leg].release();
            if (pending.decrementAndGet() == 0) {
                labelDone(this);
            }
        }
    }

    private final IoCompletion<LabelWrite> onLabel0 = (w, errno) -> w.step(0, errno);
    private final IoCompletion<LabelWrite> onLabel1 = (w, errno) -> w.step(1, errno);

    /** Starts writing the current layout to the labels unless it is durable or a label write is in flight. */
    private void persistLayout() {
        LabelWrite w;
        synchronized (this) {
            Layout l = layout;
            if (l.failed || labelInFlight || l.generation <= durableGeneration) {
                return; // an in-flight write is followed by the newest layout when it completes
            }
            labelInFlight = true;
            w = new LabelWrite(l);
            for (int leg = 0; leg < 2; leg++) {
                w.sent[leg] = l.leg(leg) != null && l.state(leg) != LegState.STALE;
                if (w.sent[leg]) {
                    w.bufs[leg] = Unpooled.directBuffer(Label.SIZE);
                    l.label(id, leg, size, blockSize).writeTo(w.bufs[leg]);
                }
            }
            w.pending.set((w.sent[0] ? 1 : 0) + (w.sent[1] ? 1 : 0));
        }
        long at = Label.copyOffset(w.snapshot.generation);
        // Survivor (the in-sync leg) first: if the power goes between the two, the newer label is the
        // one that describes the other leg correctly.
        int first = w.snapshot.inSync(0) ? 0 : 1;
        for (int leg : new int[] {first, 1 - first}) {
            if (w.sent[leg]) {
                w.snapshot.leg(leg).write(at, Label.SIZE, w.bufs[leg], false, w, leg == 0 ? onLabel0 : onLabel1);
            }
        }
    }

    private void labelDone(LabelWrite w) {
        List<Op> release = new ArrayList<>();
        int bad = -1;
        synchronized (this) {
            labelInFlight = false;
            for (int leg = 0; leg < 2; leg++) {
                if (w.sent[leg] && w.errnos[leg] != IoCompletion.OK) {
                    bad = leg;
                }
            }
            if (bad < 0) {
                durableGeneration = Math.max(durableGeneration, w.snapshot.generation);
                labelWaiters.removeIf(op -> {
                    if (op.waitFor <= durableGeneration) {
                        release.add(op);
                        return true;
                    }
                    return false;
                });
            }
        }
        if (bad >= 0) {
            LOG.log(System.Logger.Level.WARNING, "mirror {0}: label write to leg {1} failed (errno {2})", id, bad, w.errnos[bad]);
            failLeg(bad);
        }
        persistLayout(); // a newer layout may have appeared meanwhile
        for (Op op : release) {
            op.labelResolved(IoCompletion.OK);
        }
    }

    /** Blocks until labels of at least {@code generation} are durable; for open and the resync thread. */
    private int awaitDurable(long generation) {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        Op waiter = new Op() {
            @Override
            void labelResolved(int errno) {
                f.complete(errno);
            }
        };
        synchronized (this) {
            if (layout.failed) {
                return IoCompletion.EIO;
            }
            if (durableGeneration >= generation) {
                return IoCompletion.OK;
            }
            waiter.waitFor = generation;
            labelWaiters.add(waiter);
        }
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoCompletion.EIO;
        } catch (ExecutionException e) {
            return IoCompletion.EIO;
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Resync

    /** A running copy onto {@link #target}. Fields guarded by the mirror's lock unless volatile. */
    private final class Resync {
        final int target;
        final BlockDevice targetDevice;
        final int source;
        final CompletableFuture<Void> done = new CompletableFuture<>();
        /** End of the copied prefix of the data area. */
        volatile long watermark;
        volatile boolean aborted;
        long copyStart = -1;
        long copyEnd = -1;
        final List<Mutation> inFlight = new ArrayList<>();
        List<Mutation> heldBack = new ArrayList<>();
        Thread thread;

        Resync(int target, BlockDevice targetDevice, long from) {
            this.target = target;
            this.targetDevice = targetDevice;
            this.source = 1 - target;
            this.watermark = from;
        }

        boolean overlapsInFlight(long start, long end) {
            for (Mutation op : inFlight) {
                if (op.offset < end && start < op.end()) {
                    return true;
                }
            }
            return false;
        }
    }

    private CompletableFuture<Void> startResync(int target, BlockDevice device, long from, boolean record) {
        Resync r;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("mirror " + id + " is closed");
            }
            Layout l = layout;
            if (resync != null || !l.inSync(1 - target)) {
                throw new IllegalStateException("mirror " + id + " is " + state() + ": cannot resync leg " + target);
            }
            if (record) {
                layout = l.with(target, device, LegState.RESYNCING).withWatermark(from);
            }
            r = new Resync(target, device, from);
            resync = r;
            r.thread = Thread.ofPlatform().daemon().name("mirror-resync-" + id).unstarted(() -> copy(r));
        }
        LOG.log(System.Logger.Level.INFO, "mirror {0}: resync of leg {1} from byte {2} of {3}", id, target, from, size);
        r.thread.start();
        return r.done;
    }

    /** The resync thread: label, copy chunk by chunk, record progress, then both in sync. */
    private void copy(Resync r) {
        ByteBuf chunk = PooledByteBufAllocator.DEFAULT.directBuffer(RESYNC_CHUNK, RESYNC_CHUNK);
        try {
            persistLayout();
            require(r, awaitDurable(layout.generation), "recording the resync in the labels");
            BlockDevice source = layout.leg(r.source);
            int sinceLabel = 0;
            while (true) {
                long start;
                long end;
                synchronized (this) {
                    start = r.watermark;
                    if (r.aborted || start >= size) {
                        break;
                    }
                    end = Math.min(start + RESYNC_CHUNK, size);
                    r.copyStart = start;
                    r.copyEnd = end;
                    // Writes to this chunk sent before it was fenced must land on the survivor first.
                    while (!r.aborted && r.overlapsInFlight(start, end)) {
                        wait();
                    }
                    if (r.aborted) {
                        break;
                    }
                }
                int length = (int) (end - start);
                chunk.clear();
                int errno = await(source, (d, f) -> d.read(start + DATA_OFFSET, length, chunk, f, FUTURE));
                require(r, errno, "reading the survivor");
                errno = await(r.targetDevice, (d, f) -> d.write(start + DATA_OFFSET, length, chunk, false, f, FUTURE));
                if (errno != IoCompletion.OK) {
                    failLeg(r.target);
                }
                require(r, errno, "writing the new leg");
                resyncBytes.add(length);
                releaseHeldBack(r, end);
                if (++sinceLabel == labelEveryChunks && end < size) {
                    sinceLabel = 0;
                    recordWatermark(r, end);
                }
            }
            if (r.aborted) {
                throw new IllegalStateException("resync of leg " + r.target + " stopped (mirror " + state() + ")");
            }
            flushTarget(r);
            long generation;
            synchronized (this) {
                require(r, r.aborted ? IoCompletion.EIO : IoCompletion.OK, "finishing");
                layout = layout.with(r.target, r.targetDevice, LegState.IN_SYNC).withWatermark(0);
                generation = layout.generation;
                resync = null;
            }
            persistLayout();
            require(r, awaitDurable(generation), "recording the legs in sync");
            LOG.log(System.Logger.Level.INFO, "mirror {0}: leg {1} in sync", id, r.target);
            r.done.complete(null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            r.done.completeExceptionally(e);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "mirror {0}: resync of leg {1} failed: {2}", id, r.target, e.getMessage());
            r.done.completeExceptionally(e);
        } finally {
            chunk.release();
            boolean demoted = false;
            synchronized (this) {
                if (resync == r) {
                    resync = null;
                }
                // A copy that stopped for any reason but close (which resumes it at the next open) leaves
                // the target stale, so that resync() or replace() may start again.
                if (!closed && !layout.failed && layout.state(r.target) == LegState.RESYNCING) {
                    layout = layout.with(r.target, r.targetDevice, LegState.STALE).withWatermark(0);
                    demoted = true;
                }
            }
            releaseHeldBack(r, r.watermark);
            if (demoted) {
                persistLayout();
            }
        }
    }

    private void recordWatermark(Resync r, long watermark) {
        flushTarget(r);
        long generation;
        synchronized (this) {
            require(r, r.aborted ? IoCompletion.EIO : IoCompletion.OK, "recording progress");
            layout = layout.withWatermark(watermark);
            generation = layout.generation;
        }
        persistLayout();
        require(r, awaitDurable(generation), "recording progress");
    }

    private void flushTarget(Resync r) {
        int errno = await(r.targetDevice, (d, f) -> d.flush(f, FUTURE));
        if (errno != IoCompletion.OK) {
            failLeg(r.target);
        }
        require(r, errno, "flushing the new leg");
    }

    private void require(Resync r, int errno, String what) {
        if (errno != IoCompletion.OK) {
            synchronized (this) {
                r.aborted = true;
                notifyAll();
            }
            throw new IllegalStateException("resync of leg " + r.target + ": " + what + " failed (errno " + errno + ")");
        }
    }

    /** Advances the watermark to {@code end} and sends the writes held back for the chunk just copied. */
    private void releaseHeldBack(Resync r, long end) {
        List<Mutation> release;
        synchronized (this) {
            r.watermark = end;
            r.copyStart = -1;
            r.copyEnd = -1;
            release = r.heldBack;
            r.heldBack = new ArrayList<>();
        }
        for (Mutation op : release) {
            dispatch(op);
        }
    }

    /** The slow path while a resync runs: hold back, or send to the survivor and maybe the target. */
    private void dispatchDuringResync(Mutation op) {
        Layout l;
        boolean toTarget;
        Resync r;
        synchronized (this) {
            r = resync;
            l = layout;
            if (r == null || r.aborted || !l.resyncing()) {
                r = null;
            } else if (op.offset < r.copyEnd && r.copyStart < op.end()) {
                heldBackWrites.increment();
                r.heldBack.add(op);
                return;
            }
            toTarget = r != null && op.offset < r.watermark;
            if (r != null) {
                op.tracked = r;
                r.inFlight.add(op);
            }
        }
        if (r == null) {
            l = layout;
            send(op, l, l.inSync(0), l.inSync(1));
            return;
        }
        send(op, l, r.source == 0 || toTarget, r.source == 1 || toTarget);
    }

    private void untrack(Mutation op) {
        synchronized (this) {
            op.tracked.inFlight.remove(op);
            notifyAll();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Synchronous helpers for open and the resync thread

    private static final IoCompletion<CompletableFuture<Integer>> FUTURE = (f, errno) -> f.complete(errno);

    private interface IoCall {
        void start(BlockDevice device, CompletableFuture<Integer> done);
    }

    private static int await(BlockDevice device, IoCall call) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        call.start(device, done);
        try {
            return done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoCompletion.EIO;
        } catch (ExecutionException e) {
            return IoCompletion.EIO;
        }
    }
}
