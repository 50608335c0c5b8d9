package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32C;

/**
 * A RAID-1 mirror of two devices, itself a {@link BlockDevice}: the container sits on it as on one disk.
 * Losing one leg loses nothing and I/O continues on the other; a replacement leg is copied from the
 * survivor online ({@link #replace}, {@link #resync}) with progress ({@link #resyncProgress}).
 *
 * <h2>On-disk layout (each leg)</h2>
 * <pre>
 *   leg offset: 0        4 KiB      8 KiB          512 KiB            1 MiB                            leg size
 *               +---------+---------+---- ... ----+------ ... ------+------------------ ... --------+--------+
 *               | label   | label   |   unused    | write-intent    |  mirrored data: mirror offset 0 | unused |
 *               | copy 0  | copy 1  |             | bitmap          |  ... size()                     | (tail) |
 *               +---------+---------+---- ... ----+------ ... ------+------------------ ... --------+--------+
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
 *        64    4  bitmap region shift: one bit covers 2^shift bytes of the data area; 0 in a label written
 *                 by a version without the bitmap (it was zero padding there), see "Write-intent bitmap"
 *      4092    4  CRC32C of bytes 0..4091
 *   integers little-endian, the UUID big-endian (as java.util.UUID's two longs).
 *
 *   write-intent bitmap (at BITMAP_OFFSET, 512 KiB; only the first ceil(regions / 32768) 4 KiB blocks are
 *   used, the rest is never read or written):
 *     bit r (byte r / 8, bit r % 8 counting from the least significant) = 1: the legs may differ in region
 *     r, mirror bytes [r &lt;&lt; shift, (r + 1) &lt;&lt; shift). No checksum: every bit means something on its own,
 *     so a torn bitmap write leaves each bit either old or new, and both are safe (see below).
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
 * done. The copy knows the writes sent while it runs; a write sent to the survivor alone just before it
 * started is not among them, so before the first chunk the copier holds back every new write and waits
 * until the regions' in-flight counts hold only writes it knows about: every earlier one has landed (the
 * same applies to write-zeroes and deallocates; a copy started by {@link #open} has nothing before it).
 * Every {@link #LABEL_EVERY_CHUNKS} chunks the target is flushed and the watermark recorded on both
 * labels, so a restart resumes the copy there ({@link #open} restarts a recorded resync by itself). When
 * the copy reaches the end the target is flushed and both labels say in sync.
 *
 * <h2>Write-intent bitmap</h2>
 * A write in flight at a power cut may land on one leg and not the other, and a write acknowledged but not
 * yet flushed may survive on one leg only. Reads come from one leg, so the host sees one version, but
 * nothing would ever make the legs agree again: if that leg failed later, a block nobody rewrote would
 * change its contents. As in Linux md, one bit per region of the data area says "the legs may differ
 * here", and after an unclean stop {@link #open} copies every dirty region from the authority leg (the one
 * reads come from) to the other.
 * <ul>
 *   <li><b>Set.</b> Before a write, write-zeroes or deallocate touching a region whose bit is not durably
 *       set is sent to any leg, the bitmap block is written and flushed on every leg that is not stale (the
 *       in-sync ones, and a resyncing one, whose bitmap must be complete when it becomes in sync; a leg
 *       that joins gets the whole bitmap first). Such a request waits in a queue, not on a thread; the
 *       completion of that bitmap write sends it. Requests to marked regions go straight through.</li>
 *   <li><b>Cleared, lazily.</b> {@link #clearIdleRegions} runs every {@link #BITMAP_CLEAR_INTERVAL_MILLIS}:
 *       a marked region with no request in flight and none started since the previous pass is unmarked in
 *       memory (so a new write to it queues again for its bit), then every leg is flushed, and only then is
 *       the cleared bit written. So a bit is cleared on disk only once every write to its region is durable
 *       on both legs, and never behind the back of a new write. A region is cleared one to two intervals
 *       after its last write, so a working set rewritten within seconds costs no bitmap writes.
 *       {@link #close} clears every idle region: a clean stop leaves nothing to repair.</li>
 *   <li><b>Repaired.</b> At {@link #open} the dirty regions are the union of the in-sync legs' bitmaps,
 *       limited to what both legs are meant to hold: everything when both are in sync; below the recorded
 *       watermark when a resync was running (above it the resumed resync copies everything anyway);
 *       nothing when one leg is stale. They are copied in the background with the resync's discipline
 *       (the chunk being copied holds back writes to it and waits for those in flight), before a resumed
 *       resync goes on from its watermark. While only a repair runs the state stays {@link State#IN_SYNC}:
 *       both legs hold every durable write and differ at most in blocks whose writes never became durable,
 *       which the host reads from the authority leg alone. {@link #resyncProgress} counts the repair's
 *       bytes and {@link #resyncDone} completes with it. A dirty region stays marked until it is repaired,
 *       so a stop during the repair repairs it at the next open.</li>
 * </ul>
 * Region size: the smallest power of two of at least {@link #RESYNC_CHUNK} (1 MiB) whose bits fit in the
 * 512 KiB bitmap area, i.e. 1 MiB up to 4 TiB of data, 2 MiB up to 8 TiB, and so on. Small, because after
 * a crash every dirty region is copied whole: a few recently written MiB, not a device. Not smaller than a
 * copy chunk, so a region is copied in whole chunks, and because each first write to a clean region costs
 * a bitmap write and a flush on both legs.
 *
 * <p>Compatibility: the format version stays 1 and the region shift sits in what older versions wrote as
 * zeroes, so they still open these legs (and ignore the bitmap). A label with region shift 0 was written by
 * a version that kept no bitmap (possibly after this one ran: it rewrites the field as 0): where the legs
 * differ is then unknown, every region counts as dirty, and that open repairs the whole mirror once.
 *
 * <h2>Threads</h2>
 * Any thread may submit requests; completions come on whatever thread the legs complete on (maybe the
 * submitting one). The steady state takes no lock and allocates nothing: each request reads the immutable
 * {@link Layout} once from a volatile field and counts itself in and out of the regions it touches with one
 * atomic operation per region (an {@link AtomicIntegerArray}; writes to one region contend on one word, as
 * md's per-region counters do). State changes (failure, resync start and end, label and bitmap writes),
 * requests to unmarked regions, and requests while a resync or repair runs synchronize on this object;
 * those paths are rare or already slow. Label writes and bitmap writes are each asynchronous and
 * serialised (one in flight; what changed meanwhile is written after it). The clearing pass runs on one
 * daemon timer thread shared by all mirrors and only takes the lock and starts I/O. The resync thread is
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
    /** Where the write-intent bitmap starts on each leg; it may grow up to {@link #DATA_OFFSET}. */
    public static final long BITMAP_OFFSET = 512L << 10;
    /**
     * The unit of bitmap writes: the atomic write unit of the drives we target and a multiple of every block
     * size, so a bitmap write never tears a block in a way a bit could notice.
     */
    public static final int BITMAP_BLOCK = 4096;
    /** How often idle regions are looked for; a region is cleared one to two intervals after its last write. */
    public static final long BITMAP_CLEAR_INTERVAL_MILLIS = 5_000;

    /** Regions one bitmap block covers. */
    static final int REGIONS_PER_BLOCK = BITMAP_BLOCK * 8;
    /** Regions the bitmap area holds. */
    static final long MAX_REGIONS = (DATA_OFFSET - BITMAP_OFFSET) * 8;
    /** The smallest region is one copy chunk. */
    static final int MIN_REGION_SHIFT = Integer.numberOfTrailingZeros(RESYNC_CHUNK);

    // A region's word in regions[]: requests in flight in the region in the low bits, flags above. 2^24
    // requests in one region at once is far beyond any queue depth.
    private static final int IN_FLIGHT = (1 << 24) - 1;
    /** The region's bit is durable on every leg that is not stale: requests go straight through. */
    private static final int MARKED = 1 << 24;
    /** A request entered the region since the last clearing pass looked at it. */
    private static final int TOUCHED = 1 << 25;

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

    /**
     * Cumulative counters since open. {@code resyncBytes} counts resync and repair copies alike;
     * {@code bitmapWrites} counts bitmap writes that completed (each one a write and a flush per leg);
     * {@code bitmapWaits} counts requests that waited for their region's bit.
     */
    public record Counters(long reads, long writes, long flushes, long readRetries, long legFailures,
                           long resyncBytes, long heldBackWrites, long bitmapWrites, long bitmapWaits) {
    }

    // ---------------------------------------------------------------------------------------------------
    // Label

    /** One copy of a leg's label; see the class comment for the layout. */
    record Label(UUID mirrorId, int legIndex, long generation, long size, int blockSize,
                 LegState state0, LegState state1, long watermark, int regionShift) {
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
        static final int REGION_SHIFT_OFFSET = 64;
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
            out.setIntLE(base + REGION_SHIFT_OFFSET, regionShift);
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
                    in.getIntLE(base + BLOCK_SIZE_OFFSET), s0, s1, in.getLongLE(base + WATERMARK_OFFSET),
                    in.getIntLE(base + REGION_SHIFT_OFFSET));
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

        Label label(UUID id, int leg, long size, int blockSize, int regionShift) {
            return new Label(id, leg, generation, size, blockSize, state0, state1, watermark, regionShift);
        }
    }

    private final UUID id;
    private final long size;
    private final int blockSize;
    /** log2 of the bitmap region size; see the class comment for the choice. */
    private final int regionShift;
    private final int regionCount;
    /** Bitmap blocks in use. */
    private final int bitmapBlocks;
    /** Per region: requests in flight ({@link #IN_FLIGHT}) and the {@link #MARKED} and {@link #TOUCHED} flags. */
    private final AtomicIntegerArray regions;
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
    /** The running resync or repair; volatile so that a request sees one start without taking the lock. */
    private volatile Resync resync;
    private boolean closed;

    // The bitmap, guarded by this. A region is in one of: clean (0 on disk, or a 1 being cleared), wanted
    // (requests wait; the next round sets it), being set (settingInFlight), marked (MARKED in regions[]).
    /** The bitmap as it must be on disk: every region marked, being set or wanted. */
    private final BitSet intended = new BitSet();
    private final BitSet wanted = new BitSet();
    private BitSet settingInFlight = new BitSet();
    /** Bitmap blocks changed since they were last written. */
    private final BitSet changedBlocks = new BitSet();
    /** Dirty regions found at open that no copy has repaired yet: they stay marked until one has. */
    private final BitSet unrepaired = new BitSet();
    /** Per leg: its bitmap on disk is not known to be this mirror's (new, stale): the next round writes it whole. */
    private final boolean[] bitmapStale = {true, true};
    /** Regions were unmarked since the last round: the next one flushes the legs before writing. */
    private boolean clearsPending;
    private boolean bitmapRoundInFlight;
    /** Bitmap changes made so far, and how many of them are durable; for {@link #awaitBitmap}. */
    private long bitmapChanges = 1;
    private long bitmapDurable;
    /** Requests waiting for their regions to be marked; sent by the round that marks the last one. */
    private final List<Mutation> bitmapWaiters = new ArrayList<>();
    private final List<Op> bitmapSyncWaiters = new ArrayList<>();
    private ScheduledFuture<?> clearingTask;

    private final LongAdder reads = new LongAdder();
    private final LongAdder writes = new LongAdder();
    private final LongAdder flushes = new LongAdder();
    private final LongAdder readRetries = new LongAdder();
    private final LongAdder legFailures = new LongAdder();
    private final LongAdder resyncBytes = new LongAdder();
    private final LongAdder heldBackWrites = new LongAdder();
    private final LongAdder bitmapWrites = new LongAdder();
    private final LongAdder bitmapWaits = new LongAdder();

    /**
     * One daemon thread runs every mirror's clearing pass: a pass only takes the lock and starts I/O. A
     * closed mirror's task leaves the queue at once (remove on cancel), so the queue keeps no closed mirror.
     */
    private static final class ClearingTimer {
        static final ScheduledExecutorService EXECUTOR = create();

        private static ScheduledExecutorService create() {
            ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1,
                    Thread.ofPlatform().daemon().name("mirror-bitmap-clearing").factory());
            executor.setRemoveOnCancelPolicy(true);
            return executor;
        }
    }

    private MirroredDevice(UUID id, long size, int blockSize, Layout layout) {
        this.id = id;
        this.size = size;
        this.blockSize = blockSize;
        this.layout = layout;
        this.regionShift = regionShiftFor(size);
        this.regionCount = (int) (((size - 1) >>> regionShift) + 1);
        this.bitmapBlocks = (regionCount + REGIONS_PER_BLOCK - 1) / REGIONS_PER_BLOCK;
        this.regions = new AtomicIntegerArray(regionCount);
    }

    /** The smallest region shift, at least {@link #MIN_REGION_SHIFT}, whose regions' bits fit in the bitmap area. */
    static int regionShiftFor(long size) {
        int shift = MIN_REGION_SHIFT;
        while (((size - 1) >>> shift) + 1 > MAX_REGIONS) {
            shift++;
        }
        return shift;
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
        return open(a, b, LABEL_EVERY_CHUNKS, BITMAP_CLEAR_INTERVAL_MILLIS);
    }

    /** As {@link #open(BlockDevice, BlockDevice)}, recording resync progress every {@code labelEveryChunks} chunks. */
    static MirroredDevice open(BlockDevice a, BlockDevice b, int labelEveryChunks) {
        return open(a, b, labelEveryChunks, BITMAP_CLEAR_INTERVAL_MILLIS);
    }

    /**
     * As {@link #open(BlockDevice, BlockDevice, int)}, looking for idle regions every
     * {@code clearIntervalMillis}; 0 never by itself (a test then calls {@link #clearIdleRegions}).
     */
    static MirroredDevice open(BlockDevice a, BlockDevice b, int labelEveryChunks, long clearIntervalMillis) {
        if (labelEveryChunks < 1) {
            throw new IllegalArgumentException("labelEveryChunks must be positive: " + labelEveryChunks);
        }
        if (clearIntervalMillis < 0) {
            throw new IllegalArgumentException("clearIntervalMillis must not be negative: " + clearIntervalMillis);
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
        // The whole bitmap on every leg that is not stale, before the labels: a label with a region shift
        // vouches for the bitmap beside it (a new mirror's legs, or an older version's, hold anything there).
        int errno = mirror.awaitBitmap();
        if (errno != IoCompletion.OK) {
            throw new IllegalStateException("cannot write the mirror bitmap (errno " + errno + ")");
        }
        mirror.persistLayout();
        errno = mirror.awaitDurable(mirror.layout.generation);
        if (errno != IoCompletion.OK) {
            throw new IllegalStateException("cannot write the mirror labels (errno " + errno + ")");
        }
        Layout l = mirror.layout;
        for (int leg = 0; leg < 2; leg++) {
            if (l.state(leg) == LegState.RESYNCING) {
                mirror.startCopy(leg, l.leg(leg), l.watermark, false, true);
            }
        }
        if (!l.resyncing() && l.inSync(0) && l.inSync(1) && mirror.hasUnrepairedRegions()) {
            // A repair: from the authority (leg 0, which reads come from) to leg 1; nothing past the end.
            mirror.startCopy(1, l.leg1, mirror.size, false, false);
        }
        if (clearIntervalMillis > 0) {
            mirror.clearingTask = ClearingTimer.EXECUTOR.scheduleWithFixedDelay(mirror::clearIdleRegionsOnTimer,
                    clearIntervalMillis, clearIntervalMillis, TimeUnit.MILLISECONDS);
        }
        LOG.log(System.Logger.Level.INFO, "mirror {0} opened: {1}, legs {2}/{3}, generation {4}, {5} dirty regions of {6} bytes",
                mirror.id, mirror.state(), l.state0, l.state1, l.generation, mirror.dirtyRegions(), mirror.regionSize());
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
        m.loadDirtyRegions(auth.regionShift);
        return m;
    }

    /**
     * Marks the regions the last run left dirty (see "Repaired" in the class comment) and remembers them as
     * unrepaired. For {@link #assemble}, before any request; blocks on the bitmap reads.
     */
    private void loadDirtyRegions(int recordedShift) {
        Layout l = layout;
        long limit = l.inSync(0) && l.inSync(1) ? size : l.resyncing() ? l.watermark : 0;
        if (limit == 0) {
            return;
        }
        BitSet dirty = new BitSet(regionCount);
        if (recordedShift != regionShift) {
            LOG.log(System.Logger.Level.WARNING, "mirror {0}: the labels record no write-intent bitmap (region shift {1});"
                    + " the legs may differ anywhere, repairing the whole mirror", id, recordedShift);
            dirty.set(0, regionCount);
        } else {
            for (int leg = 0; leg < 2; leg++) {
                if (l.inSync(leg)) {
                    dirty.or(readBitmap(l.leg(leg)));
                }
            }
        }
        dirty.clear(regionOf(limit - 1) + 1, regionCount);
        synchronized (this) {
            for (int r = dirty.nextSetBit(0); r >= 0; r = dirty.nextSetBit(r + 1)) {
                regions.set(r, MARKED);
            }
            intended.or(dirty);
            unrepaired.or(dirty);
        }
    }

    private synchronized boolean hasUnrepairedRegions() {
        return !unrepaired.isEmpty();
    }

    /** One leg's bitmap; every region if it cannot be read (then nothing says where the legs agree). */
    private BitSet readBitmap(BlockDevice device) {
        int length = bitmapBlocks * BITMAP_BLOCK;
        ByteBuf buf = Unpooled.buffer(length);
        try {
            int errno = await(device, (d, f) -> d.read(BITMAP_OFFSET, length, buf, f, FUTURE));
            BitSet bits;
            if (errno == IoCompletion.OK) {
                byte[] raw = new byte[length];
                buf.getBytes(0, raw);
                bits = BitSet.valueOf(raw);
                bits.clear(regionCount, Math.max(regionCount, bits.length()));
            } else {
                LOG.log(System.Logger.Level.WARNING, "mirror {0}: cannot read a write-intent bitmap (errno {1});"
                        + " every region counts as dirty", id, errno);
                bits = new BitSet(regionCount);
                bits.set(0, regionCount);
            }
            return bits;
        } finally {
            buf.release();
        }
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

    /**
     * Of a resync: bytes of the data area the new leg holds, of {@link #size()}. Of a repair after an unclean
     * stop: dirty bytes copied, of all dirty bytes. With neither running: all of the size when both legs
     * are in sync (nothing to copy), none otherwise.
     */
    public ResyncProgress resyncProgress() {
        Layout l = layout;
        Resync r = resync;
        if (r != null) {
            return new ResyncProgress(r.total - r.remaining, r.total);
        }
        return new ResyncProgress(l.inSync(0) && l.inSync(1) ? size : 0, size);
    }

    /**
     * The running resync's or repair's future (completes when both legs are in sync and, for a repair, hold
     * the same data), e.g. of one {@link #open} started; a completed future if none runs.
     */
    public synchronized CompletableFuture<Void> resyncDone() {
        Resync r = resync;
        return r != null ? r.done : CompletableFuture.completedFuture(null);
    }

    public Counters counters() {
        return new Counters(reads.sum(), writes.sum(), flushes.sum(), readRetries.sum(), legFailures.sum(),
                resyncBytes.sum(), heldBackWrites.sum(), bitmapWrites.sum(), bitmapWaits.sum());
    }

    /** Bytes of the data area one bit of the write-intent bitmap covers. */
    public long regionSize() {
        return 1L << regionShift;
    }

    /** Regions whose bit is set or being set: where the legs may differ if the power went now. */
    public synchronized int dirtyRegions() {
        return intended.cardinality();
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
        return startCopy(staleLeg(), newLeg, 0, true, true);
    }

    /** Copies the survivor onto the stale leg that is still present (e.g. one that came back after a restart). */
    public CompletableFuture<Void> resync() {
        int leg = staleLeg();
        BlockDevice device = layout.leg(leg);
        if (device == null) {
            throw new IllegalStateException("leg " + leg + " is missing; replace it with a new device");
        }
        return startCopy(leg, device, 0, true, true);
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

    /**
     * Stops a running resync or repair (the next open resumes it), flushes the legs and clears the bitmap:
     * a clean stop, after which the next open copies nothing. The legs stay open (they are the caller's).
     */
    @Override
    public void close() {
        Thread copier = null;
        ScheduledFuture<?> timer;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            timer = clearingTask;
            Resync r = resync;
            if (r != null) {
                r.aborted = true;
                copier = r.thread;
                notifyAll();
            }
        }
        if (timer != null) {
            timer.cancel(false);
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
        // Every request has completed (the contract of close), so every region but the unrepaired ones is
        // idle; the clearing round flushes the legs again before it writes the bits.
        if (clearRegions(true) > 0) {
            int errno = awaitBitmap();
            if (errno != IoCompletion.OK) {
                LOG.log(System.Logger.Level.WARNING, "mirror {0}: closed without clearing the bitmap (errno {1});"
                        + " the next open repairs the regions it marks", id, errno);
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

    /** Something that may wait for a label generation or a bitmap change ({@link #waitFor}) to become durable. */
    private abstract static class Op {
        long waitFor;

        /** What this op waited for is durable (OK) or can no longer be written (EIO). */
        abstract void resolved(int errno);
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
        /** Counted in its regions' in-flight counts (see {@link #admit}) until {@link #retire}. */
        boolean admitted;

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
        void resolved(int errno) {
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
            retire(op);
            op.completion.completed(op.attachment, IoCompletion.EIO);
            return;
        }
        if (op.kind != Kind.FLUSH) {
            if (!op.admitted && !admit(op)) {
                return; // it waits for its regions' bits; the bitmap round that sets them dispatches it
            }
            if (l.resyncing() || resync != null) {
                dispatchDuringCopy(op);
                return;
            }
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
            retire(op);
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
        } else {
            retire(op);
            if (resync != null && op.kind != Kind.FLUSH) {
                // Read after the counts went down: a copy that started before may wait for this request.
                synchronized (this) {
                    notifyAll();
                }
            }
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
        op.resolved(errno);
    }

    private int regionOf(long offset) {
        return (int) (offset >>> regionShift);
    }

    private long regionStart(int region) {
        return (long) region << regionShift;
    }

    /**
     * Counts {@code op} into the regions it touches. True if all are marked: send it now. This is the
     * steady state, one compare-and-set per region and no lock. Otherwise the op waits for a bitmap round.
     */
    private boolean admit(Mutation op) {
        if (op.length == 0) {
            return true; // touches no region
        }
        int first = regionOf(op.offset);
        int last = regionOf(op.end() - 1);
        for (int r = first; r <= last; r++) {
            int s = regions.get(r);
            while ((s & MARKED) != 0 && !regions.compareAndSet(r, s, (s + 1) | TOUCHED)) {
                s = regions.get(r);
            }
            if ((s & MARKED) == 0) {
                for (int counted = first; counted < r; counted++) {
                    regions.getAndDecrement(counted);
                }
                return admitSlowly(op, first, last);
            }
        }
        op.admitted = true;
        return true;
    }

    /** Counts {@code op} in under the lock and, unless its regions got marked meanwhile, queues it for their bits. */
    private boolean admitSlowly(Mutation op, int first, int last) {
        boolean waits = false;
        synchronized (this) {
            if (!layout.failed) {
                for (int r = first; r <= last; r++) {
                    int s = regions.getAndAccumulate(r, TOUCHED, (word, touched) -> (word + 1) | touched);
                    if ((s & MARKED) == 0) {
                        waits = true;
                        if (!settingInFlight.get(r) && !wanted.get(r)) {
                            wanted.set(r);
                            intended.set(r);
                            changedBlocks.set(r / REGIONS_PER_BLOCK);
                            bitmapChanges++;
                        }
                    }
                }
                op.admitted = true;
                if (waits) {
                    bitmapWaits.increment();
                    bitmapWaiters.add(op);
                }
            }
        }
        if (!op.admitted) {
            op.completion.completed(op.attachment, IoCompletion.EIO); // the mirror has failed
            return false;
        }
        if (waits) {
            startBitmapRound();
        }
        return !waits;
    }

    /** Counts {@code op} out of its regions, once no leg will touch them for it any more. */
    private void retire(Mutation op) {
        if (!op.admitted) {
            return;
        }
        op.admitted = false;
        int last = regionOf(op.end() - 1);
        for (int r = regionOf(op.offset); r <= last; r++) {
            regions.getAndDecrement(r);
        }
    }

    private boolean allMarked(Mutation op) {
        int last = regionOf(op.end() - 1);
        for (int r = regionOf(op.offset); r <= last; r++) {
            if ((regions.get(r) & MARKED) == 0) {
                return false;
            }
        }
        return true;
    }

    private boolean touchesAny(Mutation op, BitSet set) {
        int next = set.nextSetBit(regionOf(op.offset));
        return next >= 0 && next <= regionOf(op.end() - 1);
    }

    // ---------------------------------------------------------------------------------------------------
    // Failure

    /** Stops using {@code leg} and records it stale on the survivor; see the class comment. */
    private void failLeg(int leg) {
        List<Op> release = null;
        List<Mutation> unsent = null;
        synchronized (this) {
            Layout l = layout;
            if (l.failed || l.state(leg) == LegState.STALE) {
                return;
            }
            legFailures.increment();
            lastFailedLeg = leg;
            Resync r = resync;
            // A repair copies from an in-sync leg to another: losing either ends it.
            if (r != null && (r.target == leg || r.source == leg)) {
                r.aborted = true;
                notifyAll();
            }
            bitmapStale[leg] = true; // no longer kept up to date: whole again if it ever rejoins
            if (!l.inSync(1 - leg)) {
                // The last in-sync leg: nothing can be trusted or recorded any more.
                layout = l.asFailed();
                if (r != null) {
                    r.aborted = true;
                    notifyAll();
                }
                release = new ArrayList<>(labelWaiters);
                labelWaiters.clear();
                release.addAll(bitmapSyncWaiters);
                bitmapSyncWaiters.clear();
                unsent = new ArrayList<>(bitmapWaiters);
                bitmapWaiters.clear();
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
                op.resolved(IoCompletion.EIO);
            }
            for (Mutation op : unsent) {
                retire(op);
                op.completion.completed(op.attachment, IoCompletion.EIO);
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
                    l.label(id, leg, size, blockSize, regionShift).writeTo(w.bufs[leg]);
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
            op.resolved(IoCompletion.OK);
        }
    }

    /** Blocks until labels of at least {@code generation} are durable; for open and the resync thread. */
    private int awaitDurable(long generation) {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        Op waiter = new Op() {
            @Override
            void resolved(int errno) {
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
        return errnoOf(f);
    }

    // ---------------------------------------------------------------------------------------------------
    // Write-intent bitmap

    private enum BitmapStep { PREFLUSH, WRITE, FLUSH }

    /**
     * One bitmap write to the legs that are not stale, of the bitmap as intended at its start: if it clears
     * bits, every leg is flushed first (the writes to those regions must be durable on both legs before any
     * cleared bit is); then each leg gets the changed blocks (or all, if its bitmap is stale), and a flush.
     */
    private final class BitmapRound {
        final Layout snapshot;
        /** The bitmap changes it covers (see {@link #awaitBitmap}). */
        final long changes;
        /** Regions it marks when it is durable. */
        final BitSet setting;
        final boolean clears;
        final boolean[] participant = new boolean[2];
        final boolean[] whole = new boolean[2];
        final int[] firstBlock = new int[2];
        final int[] blocks = new int[2];
        final BitmapStep[] step = new BitmapStep[2];
        final int[] errnos = new int[2];
        final AtomicInteger pending = new AtomicInteger();
        /** Blocks [imageFirst, imageFirst + image blocks) of the intended bitmap; null without participants. */
        ByteBuf image;
        int imageFirst;
        volatile boolean writing;

        BitmapRound(Layout snapshot, long changes, BitSet setting, boolean clears) {
            this.snapshot = snapshot;
            this.changes = changes;
            this.setting = setting;
            this.clears = clears;
        }

        void start() {
            int legs = (participant[0] ? 1 : 0) + (participant[1] ? 1 : 0);
            if (!clears || legs == 0) {
                startWrites();
                return;
            }
            pending.set(legs);
            for (int leg = 0; leg < 2; leg++) {
                if (participant[leg]) {
                    step[leg] = BitmapStep.PREFLUSH;
                    snapshot.leg(leg).flush(this, leg == 0 ? onBitmap0 : onBitmap1);
                }
            }
        }

        private void startWrites() {
            writing = true;
            int legs = 0;
            for (int leg = 0; leg < 2; leg++) {
                if (participant[leg] && errnos[leg] == IoCompletion.OK) {
                    legs++;
                }
            }
            if (legs == 0) {
                bitmapRoundDone(this);
                return;
            }
            pending.set(legs);
            for (int leg = 0; leg < 2; leg++) {
                if (participant[leg] && errnos[leg] == IoCompletion.OK) {
                    step[leg] = BitmapStep.WRITE;
                    int length = blocks[leg] * BITMAP_BLOCK;
                    ByteBuf src = image.slice((firstBlock[leg] - imageFirst) * BITMAP_BLOCK, length);
                    snapshot.leg(leg).write(BITMAP_OFFSET + (long) firstBlock[leg] * BITMAP_BLOCK, length, src, false,
                            this, leg == 0 ? onBitmap0 : onBitmap1);
                }
            }
        }

        void completed(int leg, int errno) {
            if (errno == IoCompletion.OK && step[leg] == BitmapStep.WRITE) {
                step[leg] = BitmapStep.FLUSH;
                snapshot.leg(leg).flush(this, leg == 0 ? onBitmap0 : onBitmap1);
                return;
            }
            if (errno != IoCompletion.OK) {
                errnos[leg] = errno;
            }
            // The atomic decrement publishes the errno written above to whichever leg completes last.
            if (pending.decrementAndGet() != 0) {
                return;
            }
            if (writing) {
                bitmapRoundDone(this);
            } else {
                startWrites();
            }
        }
    }

    private final IoCompletion<BitmapRound> onBitmap0 = (round, errno) -> round.completed(0, errno);
    private final IoCompletion<BitmapRound> onBitmap1 = (round, errno) -> round.completed(1, errno);

    /** Starts the next bitmap round if one is due and none is in flight. */
    private void startBitmapRound() {
        BitmapRound round;
        synchronized (this) {
            round = nextBitmapRound();
        }
        if (round != null) {
            round.start();
        }
    }

    /** The next round, or null if none is due or one is in flight; guarded by this. */
    private BitmapRound nextBitmapRound() {
        Layout l = layout;
        if (bitmapRoundInFlight || l.failed || (wanted.isEmpty() && !clearsPending && bitmapSyncWaiters.isEmpty())) {
            return null;
        }
        BitmapRound round = new BitmapRound(l, bitmapChanges, (BitSet) wanted.clone(), clearsPending);
        int changedFirst = changedBlocks.nextSetBit(0);
        int changedLast = changedBlocks.length() - 1;
        int imageFirst = Integer.MAX_VALUE;
        int imageLast = -1;
        for (int leg = 0; leg < 2; leg++) {
            boolean recipient = l.leg(leg) != null && l.state(leg) != LegState.STALE;
            round.whole[leg] = recipient && bitmapStale[leg];
            if (round.whole[leg]) {
                round.firstBlock[leg] = 0;
                round.blocks[leg] = bitmapBlocks;
            } else if (recipient && changedFirst >= 0) {
                round.firstBlock[leg] = changedFirst;
                round.blocks[leg] = changedLast - changedFirst + 1;
            } else {
                continue;
            }
            round.participant[leg] = true;
            imageFirst = Math.min(imageFirst, round.firstBlock[leg]);
            imageLast = Math.max(imageLast, round.firstBlock[leg] + round.blocks[leg] - 1);
        }
        if (imageLast >= 0) {
            round.imageFirst = imageFirst;
            round.image = encodeBitmap(imageFirst, imageLast);
        }
        settingInFlight = round.setting;
        wanted.clear();
        changedBlocks.clear();
        clearsPending = false;
        bitmapRoundInFlight = true;
        return round;
    }

    /** Blocks [first, last] of the intended bitmap, in the on-disk format (see the class comment). */
    private ByteBuf encodeBitmap(int first, int last) {
        int length = (last - first + 1) * BITMAP_BLOCK;
        byte[] bits = intended.get(first * REGIONS_PER_BLOCK, (last + 1) * REGIONS_PER_BLOCK).toByteArray();
        ByteBuf image = Unpooled.directBuffer(length);
        image.writeBytes(bits);
        image.writeZero(length - bits.length);
        return image;
    }

    /**
     * A round is good when an in-sync leg holds it (a leg that failed it is then failed, as for any request),
     * or, with no in-sync leg in it, when every leg in it succeeded. A good round marks its regions and sends
     * the requests that waited for them; a failed one fails the requests that waited for its regions (every
     * in-sync leg failed: the request's error, not a leg's) and leaves its blocks to be written again.
     */
    private void bitmapRoundDone(BitmapRound round) {
        int inSyncOk = 0;
        int inSyncParticipants = 0;
        boolean allOk = true;
        for (int leg = 0; leg < 2; leg++) {
            if (round.participant[leg]) {
                boolean ok = round.errnos[leg] == IoCompletion.OK;
                allOk &= ok;
                if (round.snapshot.inSync(leg)) {
                    inSyncParticipants++;
                    inSyncOk += ok ? 1 : 0;
                }
            }
        }
        boolean good = inSyncOk > 0 || (inSyncParticipants == 0 && allOk);
        List<Mutation> ready = new ArrayList<>();
        List<Mutation> failed = new ArrayList<>();
        List<Op> resolved = new ArrayList<>();
        synchronized (this) {
            bitmapRoundInFlight = false;
            settingInFlight = new BitSet();
            if (good) {
                for (int r = round.setting.nextSetBit(0); r >= 0; r = round.setting.nextSetBit(r + 1)) {
                    regions.getAndAccumulate(r, MARKED, (word, marked) -> word | marked);
                }
                for (int leg = 0; leg < 2; leg++) {
                    if (round.whole[leg] && round.errnos[leg] == IoCompletion.OK) {
                        bitmapStale[leg] = false;
                    }
                }
                bitmapDurable = Math.max(bitmapDurable, round.changes);
                if (round.image != null) {
                    bitmapWrites.increment();
                }
                for (Iterator<Mutation> it = bitmapWaiters.iterator(); it.hasNext(); ) {
                    Mutation op = it.next();
                    if (allMarked(op)) {
                        it.remove();
                        ready.add(op);
                    }
                }
            } else {
                if (round.image != null) {
                    changedBlocks.set(round.imageFirst, round.imageFirst + round.image.readableBytes() / BITMAP_BLOCK);
                }
                for (Iterator<Mutation> it = bitmapWaiters.iterator(); it.hasNext(); ) {
                    Mutation op = it.next();
                    if (touchesAny(op, round.setting)) {
                        it.remove();
                        failed.add(op);
                    }
                }
            }
            for (Iterator<Op> it = bitmapSyncWaiters.iterator(); it.hasNext(); ) {
                Op waiter = it.next();
                if (waiter.waitFor <= round.changes) {
                    it.remove();
                    resolved.add(waiter);
                }
            }
        }
        if (round.image != null) {
            round.image.release();
        }
        if (good) {
            for (int leg = 0; leg < 2; leg++) {
                if (round.participant[leg] && round.errnos[leg] != IoCompletion.OK) {
                    LOG.log(System.Logger.Level.WARNING, "mirror {0}: bitmap write to leg {1} failed (errno {2})",
                            id, leg, round.errnos[leg]);
                    failLeg(leg);
                }
            }
        }
        for (Mutation op : failed) {
            retire(op);
            op.completion.completed(op.attachment, IoCompletion.EIO);
        }
        for (Mutation op : ready) {
            dispatch(op);
        }
        startBitmapRound(); // changes made meanwhile
        for (Op waiter : resolved) {
            waiter.resolved(good ? IoCompletion.OK : IoCompletion.EIO);
        }
    }

    /**
     * Blocks until every bitmap change made so far (including whole bitmaps owed to legs) is durable (OK) or
     * cannot be (EIO); for open, close and the resync thread.
     */
    private int awaitBitmap() {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        synchronized (this) {
            if (layout.failed) {
                return IoCompletion.EIO;
            }
            if (bitmapDurable >= bitmapChanges) {
                return IoCompletion.OK;
            }
            Op waiter = new Op() {
                @Override
                void resolved(int errno) {
                    f.complete(errno);
                }
            };
            waiter.waitFor = bitmapChanges;
            bitmapSyncWaiters.add(waiter);
        }
        startBitmapRound();
        return errnoOf(f);
    }

    /**
     * One pass of the lazy clearing (see the class comment): unmarks every marked region that has no request
     * in flight and saw none since the previous pass, and starts the round that flushes the legs and writes
     * the cleared bits. Regions still to be repaired stay. Returns how many regions it unmarked. Run by the
     * clearing timer; a test may call it directly instead.
     */
    int clearIdleRegions() {
        return clearRegions(false);
    }

    private void clearIdleRegionsOnTimer() {
        try {
            clearIdleRegions();
        } catch (RuntimeException e) {
            // An exception would cancel the timer for good; the next pass may well succeed.
            LOG.log(System.Logger.Level.WARNING, "mirror {0}: clearing the bitmap failed: {1}", id, e.toString());
        }
    }

    /** Unmarks idle regions; with {@code evenIfRecent}, also those written since the previous pass. */
    private int clearRegions(boolean evenIfRecent) {
        int cleared = 0;
        synchronized (this) {
            if (layout.failed) {
                return 0;
            }
            for (int r = intended.nextSetBit(0); r >= 0; r = intended.nextSetBit(r + 1)) {
                int s = regions.get(r);
                if ((s & MARKED) == 0 || (s & IN_FLIGHT) != 0 || unrepaired.get(r)) {
                    continue;
                }
                if ((s & TOUCHED) != 0 && !evenIfRecent) {
                    regions.compareAndSet(r, s, s & ~TOUCHED); // a second chance: cleared if idle at the next pass
                    continue;
                }
                // Fails if a request counted itself in meanwhile: the region is not idle after all.
                if (regions.compareAndSet(r, s, s & ~(MARKED | TOUCHED))) {
                    intended.clear(r);
                    changedBlocks.set(r / REGIONS_PER_BLOCK);
                    cleared++;
                }
            }
            if (cleared > 0) {
                clearsPending = true;
                bitmapChanges++;
            }
        }
        if (cleared > 0) {
            startBitmapRound();
        }
        return cleared;
    }

    // ---------------------------------------------------------------------------------------------------
    // Resync and repair

    /**
     * A running copy onto {@link #target}: first the dirty regions found at open ({@link #repair}), then, for
     * a resync, everything from the watermark on. Fields guarded by the mirror's lock unless volatile or final.
     */
    private final class Resync {
        final int target;
        final BlockDevice targetDevice;
        final int source;
        /** A resync (the target is RESYNCING and copied to the end); otherwise a repair of two in-sync legs. */
        final boolean full;
        /** Regions to copy first, each up to the starting watermark. */
        final BitSet repair;
        /** Bytes a complete copy holds (the size for a resync: what it copied before a restart counts). */
        final long total;
        /** Bytes still to copy; written by the copying thread only. */
        volatile long remaining;
        final CompletableFuture<Void> done = new CompletableFuture<>();
        /** End of the prefix the target holds, so writes below it go to the target too; the size for a repair. */
        volatile long watermark;
        volatile boolean aborted;
        long copyStart = -1;
        long copyEnd = -1;
        final List<Mutation> inFlight = new ArrayList<>();
        List<Mutation> heldBack = new ArrayList<>();
        Thread thread;

        Resync(int target, BlockDevice targetDevice, boolean full, long from, BitSet repair) {
            this.target = target;
            this.targetDevice = targetDevice;
            this.source = 1 - target;
            this.full = full;
            this.watermark = full ? from : size;
            this.repair = repair;
            long repairBytes = 0;
            for (int r = repair.nextSetBit(0); r >= 0; r = repair.nextSetBit(r + 1)) {
                repairBytes += repairEnd(r) - regionStart(r);
            }
            this.total = full ? size : repairBytes;
            this.remaining = repairBytes + (full ? size - from : 0);
        }

        /** Where the repair of {@code region} ends: the region's end, the watermark or the size, whichever is first. */
        long repairEnd(int region) {
            return Math.max(regionStart(region), Math.min(regionStart(region + 1), watermark));
        }

        String what() {
            return (full ? "resync" : "repair") + " of leg " + target;
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

    /**
     * Starts copying onto {@code target}: a resync ({@code full}, from {@code from} to the end, first
     * recorded in the labels if {@code record}) or a repair of the unrepaired regions. A resync resumed at
     * open, and a repair, first copy the unrepaired regions; a new resync copies everything anyway.
     */
    private CompletableFuture<Void> startCopy(int target, BlockDevice device, long from, boolean record, boolean full) {
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
                bitmapStale[target] = true; // a new or stale leg's bitmap is not this mirror's
                bitmapChanges++;
            }
            r = new Resync(target, device, full, from, record ? new BitSet() : (BitSet) unrepaired.clone());
            resync = r;
            r.thread = Thread.ofPlatform().daemon().name("mirror-resync-" + id).unstarted(() -> copy(r));
        }
        LOG.log(System.Logger.Level.INFO, "mirror {0}: {1}: {2} dirty regions, then from byte {3} of {4}", id,
                r.what(), r.repair.cardinality(), full ? from : size, size);
        r.thread.start();
        return r.done;
    }

    /** The copying thread: label, bitmap, repair, copy chunk by chunk recording progress, then both in sync. */
    private void copy(Resync r) {
        ByteBuf chunk = PooledByteBufAllocator.DEFAULT.directBuffer(RESYNC_CHUNK, RESYNC_CHUNK);
        try {
            persistLayout();
            require(r, awaitDurable(layout.generation), "recording the resync in the labels");
            // The target's bitmap must be whole before it can be in sync; from now on it is kept.
            require(r, awaitBitmap(), "writing the write-intent bitmap");
            awaitUntrackedWrites(r);
            BlockDevice source = layout.leg(r.source);
            for (int region = r.repair.nextSetBit(0); region >= 0; region = r.repair.nextSetBit(region + 1)) {
                long end = r.repairEnd(region);
                for (long start = regionStart(region); start < end; start += RESYNC_CHUNK) {
                    copyChunk(r, source, chunk, start, Math.min(start + RESYNC_CHUNK, end), false);
                }
            }
            int sinceLabel = 0;
            while (r.full && r.watermark < size) {
                long start = r.watermark;
                copyChunk(r, source, chunk, start, Math.min(start + RESYNC_CHUNK, size), true);
                if (++sinceLabel == labelEveryChunks && r.watermark < size) {
                    sinceLabel = 0;
                    recordWatermark(r, r.watermark);
                }
            }
            flushTarget(r);
            long generation = 0;
            synchronized (this) {
                require(r, r.aborted ? IoCompletion.EIO : IoCompletion.OK, "finishing");
                if (r.full) {
                    layout = layout.with(r.target, r.targetDevice, LegState.IN_SYNC).withWatermark(0);
                    generation = layout.generation;
                    unrepaired.clear(); // the target now holds a copy of everything
                } else {
                    unrepaired.andNot(r.repair); // equal and durable on both legs: the clearing may have them
                }
                resync = null;
            }
            if (r.full) {
                persistLayout();
                require(r, awaitDurable(generation), "recording the legs in sync");
            }
            LOG.log(System.Logger.Level.INFO, "mirror {0}: {1} done, legs in sync", id, r.what());
            r.done.complete(null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            r.done.completeExceptionally(e);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "mirror {0}: {1} failed: {2}", id, r.what(), e.getMessage());
            r.done.completeExceptionally(e);
        } finally {
            chunk.release();
            boolean demoted = false;
            synchronized (this) {
                if (resync == r) {
                    resync = null;
                }
                // A copy that stopped for any reason but close (which resumes it at the next open) leaves
                // the target stale, so that resync() or replace() may start again. A repair's target stays
                // in sync: it holds every durable write; its unrepaired regions stay marked.
                if (!closed && !layout.failed && layout.state(r.target) == LegState.RESYNCING) {
                    layout = layout.with(r.target, r.targetDevice, LegState.STALE).withWatermark(0);
                    demoted = true;
                }
            }
            endChunk(r, r.watermark);
            if (demoted) {
                persistLayout();
            }
        }
    }

    /**
     * Waits until every write sent before this copy could track it has completed. A request that found no
     * copy running ({@link #resync} null) went to the in-sync legs only, and nothing in {@link Resync#inFlight}
     * tells the chunk fence about it: were it still inside the source when the copy reads its chunk, the
     * target would get the old bytes and the write, acknowledged, would be on the source alone, outside any
     * region a repair would look at. Such a request counted itself into its regions ({@link #admit}) before it
     * read {@link #resync}, and {@link #resync} was set before this thread started, so its count shows here
     * until it retires; it retires only when no leg will touch it any more. So: fence the whole device (every
     * new write is held back, none joins the ones we wait for), take the regions with requests in flight,
     * and wait until each one's count is down to the requests this copy knows about (tracked or held back).
     * Those it does not know about are then done. One I/O latency at the start of a copy; a copy started by
     * {@link #open} finds nothing in flight.
     */
    private void awaitUntrackedWrites(Resync r) throws InterruptedException {
        synchronized (this) {
            stopIfAborted(r);
            r.copyStart = 0;
            r.copyEnd = size;
            BitSet busy = new BitSet();
            for (int region = 0; region < regions.length(); region++) {
                if ((regions.get(region) & IN_FLIGHT) != 0) {
                    busy.set(region);
                }
            }
            while (!r.aborted && !onlyKnownInFlight(r, busy)) {
                wait();
            }
            stopIfAborted(r);
        }
        endChunk(r, r.watermark);
    }

    /**
     * Guarded by this. Whether every request counted in {@code busy}'s regions is one the copy tracks or
     * holds back. A request between counting itself in and reaching the copy, or waiting for its bitmap bit,
     * makes this false for a while; reaching the copy ({@link #dispatchDuringCopy}) and retiring with a copy
     * running ({@link #legDone}, {@link #untrack}) wake the waiter.
     */
    private boolean onlyKnownInFlight(Resync r, BitSet busy) {
        for (int region = busy.nextSetBit(0); region >= 0; region = busy.nextSetBit(region + 1)) {
            int known = 0;
            for (Mutation op : r.inFlight) {
                known += touches(op, region) ? 1 : 0;
            }
            for (Mutation op : r.heldBack) {
                known += touches(op, region) && op.admitted ? 1 : 0;
            }
            if ((regions.get(region) & IN_FLIGHT) != known) {
                return false;
            }
        }
        return true;
    }

    private boolean touches(Mutation op, int region) {
        return op.length > 0 && regionOf(op.offset) <= region && region <= regionOf(op.end() - 1);
    }

    /**
     * Copies [start, end) from the source to the target: fences the chunk (writes to it are held back), waits
     * for the writes to it already in flight, so the read sees them, copies, then lifts the fence, moving the
     * watermark to {@code end} if {@code advance}.
     */
    private void copyChunk(Resync r, BlockDevice source, ByteBuf chunk, long start, long end, boolean advance)
            throws InterruptedException {
        synchronized (this) {
            stopIfAborted(r);
            r.copyStart = start;
            r.copyEnd = end;
            while (!r.aborted && r.overlapsInFlight(start, end)) {
                wait();
            }
            stopIfAborted(r);
        }
        int length = (int) (end - start);
        chunk.clear();
        int errno = await(source, (d, f) -> d.read(start + DATA_OFFSET, length, chunk, f, FUTURE));
        require(r, errno, "reading the source leg");
        errno = await(r.targetDevice, (d, f) -> d.write(start + DATA_OFFSET, length, chunk, false, f, FUTURE));
        if (errno != IoCompletion.OK) {
            failLeg(r.target);
        }
        require(r, errno, "writing the target leg");
        resyncBytes.add(length);
        r.remaining -= length;
        endChunk(r, advance ? end : r.watermark);
    }

    /** Guarded by this. */
    private void stopIfAborted(Resync r) {
        if (r.aborted) {
            throw new IllegalStateException(r.what() + " stopped (mirror " + state() + ")");
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
        require(r, errno, "flushing the target leg");
    }

    private void require(Resync r, int errno, String what) {
        if (errno != IoCompletion.OK) {
            synchronized (this) {
                r.aborted = true;
                notifyAll();
            }
            throw new IllegalStateException(r.what() + ": " + what + " failed (errno " + errno + ")");
        }
    }

    /**
     * Lifts the fence of the chunk just copied and sets the watermark in one step (a write to the chunk
     * must see it either fenced or below the watermark, never neither), then sends the writes held back.
     */
    private void endChunk(Resync r, long watermark) {
        List<Mutation> release;
        synchronized (this) {
            r.watermark = watermark;
            r.copyStart = -1;
            r.copyEnd = -1;
            release = r.heldBack;
            r.heldBack = new ArrayList<>();
        }
        for (Mutation op : release) {
            dispatch(op);
        }
    }

    /** The slow path while a copy runs: hold back, or send to the source and maybe the target. */
    private void dispatchDuringCopy(Mutation op) {
        Layout l;
        boolean toTarget;
        Resync r;
        synchronized (this) {
            r = resync;
            l = layout;
            if (r == null || r.aborted) {
                r = null;
            } else if (op.offset < r.copyEnd && r.copyStart < op.end()) {
                heldBackWrites.increment();
                r.heldBack.add(op);
                notifyAll(); // counted in its regions and now known to the copy (awaitUntrackedWrites)
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
            retire(op); // leaves the copy's knowledge and its regions' counts in one step
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
        return errnoOf(done);
    }

    /** Waits for an errno future; an interrupt or a failed future is EIO (the caller treats it as an I/O error). */
    private static int errnoOf(CompletableFuture<Integer> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoCompletion.EIO;
        } catch (ExecutionException e) {
            return IoCompletion.EIO;
        }
    }
}
