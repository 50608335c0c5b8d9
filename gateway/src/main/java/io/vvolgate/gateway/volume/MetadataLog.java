package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.zip.CRC32C;

/**
 * The container's metadata log: an append-only ring of 4 KiB blocks holding checksummed records, written
 * by group commit. Each commit writes whole blocks it never writes again and then flushes; recovery
 * replays blocks in sequence from the log head and stops at the first one that is missing, torn, stale or
 * of another container.
 *
 * <pre>
 * block (4096 bytes)
 *  offset size field
 *       0    4  magic "VLOG"
 *       4    4  CRC32C of bytes 8..4095
 *       8    8  sequence (one more than the previous block's)
 *      16    4  epoch of the era that wrote the block (see below)
 *      20    2  record count
 *      22    2  bytes of records used
 *      24    8  container ID, most significant half
 *      32  ...  records: type u8, length u16, payload (at most {@link #MAX_PAYLOAD} bytes)
 * </pre>
 *
 * The record payloads are the container's: see {@link Container}.
 *
 * <h2>Eras and epochs</h2>
 * An <em>era</em> is what one open of the container writes: it starts where replay stopped and writes
 * consecutive sequences from there. Why the epoch: a commit of several blocks can be cut so that a later
 * block is durable and an earlier one not. Replay stops at the hole and the next era fills it from the same
 * sequence number on; a block left behind the hole from before the cut then carries the right sequence, and
 * only its epoch tells it apart. Replay therefore refuses a block whose epoch is lower than the block
 * before it, and for that every era must write a higher epoch than any block already on the device, even
 * when it replayed none of them (its predecessor's first block may be exactly the one lost). So the epoch
 * is kept durable outside the log, in the superblock ({@link Superblock#epoch()}, both copies):
 * <ol>
 *   <li>Replay takes {@code epoch = max(stored epoch, last replayed epoch) + 1}, and the era's first commit
 *       hands it to the {@link EpochStore} and writes no block before the store says it is durable. A cut
 *       before that leaves no block with the new epoch, so choosing it again later is harmless. Hence every
 *       block on the device carries an epoch no higher than the stored one, and each era writes a higher
 *       epoch than every block written before it began.</li>
 *   <li>Blocks before the point where an era began are not rewritten before a checkpoint moves the head past
 *       them (the ring is full until then). Say replay accepts block B of era X at sequence q although a
 *       later era Y began at p &le; q (B was behind the hole Y found). To get to q replay must accept
 *       position p with the same blocks before it that Y saw. What Y saw at p it refused, so the block now
 *       at p was written by Y or an even later era: its epoch is above X's, and since accepted epochs never
 *       go down, B is refused. So replay yields exactly what the eras' acknowledged commits wrote, in order,
 *       whatever the number of cuts.</li>
 *   <li>A checkpoint moves the head to where its era Y will write next and stores Y's epoch as the
 *       <em>head epoch</em> ({@link Superblock#headEpoch()}), with which replay starts instead of 0: every
 *       block at or after the new head that predates Y's next write is from an era before Y and is refused,
 *       and (2) covers the blocks written after it.</li>
 * </ol>
 * A container whose superblock predates the stored epoch (it reads as 0) gets a one-off scan of the whole
 * region at open, and the era takes an epoch above the highest found there. Epochs are compared as signed
 * 32-bit integers: 2^31 opens.
 *
 * <p>Owned by the container's metadata thread (under its lock); not thread-safe.
 */
public final class MetadataLog {
    public static final int BLOCK_SIZE = 4096;
    static final int MAGIC = 0x474F4C56; // "VLOG" little-endian
    static final int MAGIC_OFFSET = 0;
    static final int CRC_OFFSET = 4;
    static final int SEQUENCE_OFFSET = 8;
    static final int EPOCH_OFFSET = 16;
    static final int COUNT_OFFSET = 20;
    static final int USED_OFFSET = 22;
    static final int CONTAINER_OFFSET = 24;
    static final int RECORDS_OFFSET = 32;
    static final int RECORD_HEADER = 3;
    /** The largest payload one record may carry. */
    public static final int MAX_PAYLOAD = BLOCK_SIZE - RECORDS_OFFSET - RECORD_HEADER;

    /** Receives replayed records in order; the payload is valid only during the call. */
    @FunctionalInterface
    public interface RecordVisitor {
        void record(long sequence, int type, ByteBuf payload);
    }

    /**
     * Keeps an era's epoch durable outside the log (the container: in its superblock). Called under the
     * caller's lock, possibly on a device thread: it must not block, and completes the future when the epoch
     * is durable (exceptionally if it could not be made so).
     */
    @FunctionalInterface
    public interface EpochStore {
        CompletableFuture<Void> record(int epoch);
    }

    /** Where replay ended: the next block to write and the epoch to write it with, and why replay stopped there. */
    public record Position(long offset, long sequence, int epoch, long blocksReplayed, Stop stop) {
    }

    /**
     * Why replay stopped at the block after the last one it took. The first four are what a log normally
     * ends with (nothing written there yet, a block of the ring's previous lap, or the tail of a commit that a
     * crash cut short); the others are named for an operator (fsck), since each also means "not acknowledged".
     */
    public enum Stop {
        /** No block there: never written (no magic), or unreadable. */
        UNWRITTEN("nothing written there yet"),
        /** A block of the previous lap of the ring (a lower sequence): the end of what was written since. */
        OLDER_LAP("a block left from the ring's previous lap: the end of the log"),
        /** Magic and tag right, checksum wrong: a block torn by a crash, whose commit was never acknowledged. */
        TORN("a torn block (checksum mismatch): the last commit in flight at a crash, never acknowledged"),
        /** The region is full of replayed blocks. */
        REGION_FULL("the end of the region: every block was replayed"),
        /** A block of this container with a higher sequence than expected: a block written beyond a hole. */
        SEQUENCE_GAP("a block with a later sequence than expected: written past a hole left by a crash, never acknowledged"),
        /** The expected sequence but an older epoch: a block left behind a hole by an earlier era. */
        STALE_EPOCH("a block of an earlier era left behind a hole by a crash (older epoch)"),
        /** A block with a valid checksum but another container's tag. */
        FOREIGN("a block of another container"),
        /** A block whose record area claims more than the block holds. */
        BAD_LENGTH("a block whose records claim more bytes than it holds");

        private final String meaning;

        Stop(String meaning) {
            this.meaning = meaning;
        }

        /** What this stop means, as a sentence fragment for a report. */
        public String meaning() {
            return meaning;
        }

        /** True for what a log normally ends with, after a clean stop or a crash. */
        public boolean expected() {
            return this == UNWRITTEN || this == OLDER_LAP || this == TORN || this == REGION_FULL || this == STALE_EPOCH;
        }
    }

    private final BlockDevice device;
    private final long regionOffset;
    private final long regionBlocks;
    private final long containerTag;

    private long nextOffset;     // within the region, of the next block to write
    private long nextSequence;
    private int epoch;
    private long blocksSinceHead;
    private ByteBuf open;        // the block being filled
    private int openCount;
    private final List<ByteBuf> sealed = new ArrayList<>();
    private CompletableFuture<Void> previous = CompletableFuture.completedFuture(null);
    private final EpochStore epochStore;
    /** Null until the era's first commit asks the store to keep its epoch; complete once it is durable. */
    private CompletableFuture<Void> epochDurable;

    /** A log whose caller keeps the epoch itself (tests): as if every epoch were durable at once. */
    public MetadataLog(BlockDevice device, long regionOffset, long regionLength, UUID containerId) {
        this(device, regionOffset, regionLength, containerId, epoch -> CompletableFuture.completedFuture(null));
    }

    public MetadataLog(BlockDevice device, long regionOffset, long regionLength, UUID containerId, EpochStore epochStore) {
        if (regionOffset % BLOCK_SIZE != 0 || regionLength % BLOCK_SIZE != 0 || regionLength < 2 * BLOCK_SIZE) {
            throw new IllegalArgumentException("the log region must be 4 KiB aligned and hold at least two blocks");
        }
        this.device = device;
        this.regionOffset = regionOffset;
        this.regionBlocks = regionLength / BLOCK_SIZE;
        this.containerTag = containerId.getMostSignificantBits();
        this.epochStore = epochStore;
    }

    /** As {@link #replay(long, long, int, int, RecordVisitor)} with no stored epochs (scans the region). */
    public Position replay(long headOffset, long firstSequence, RecordVisitor visitor) {
        return replay(headOffset, firstSequence, 0, 0, visitor);
    }

    /**
     * Replays from {@code headOffset} (within the region), expecting {@code firstSequence} there and no
     * epoch below {@code headEpoch}, and positions the log to append after the last valid block, in a new
     * era whose epoch is above {@code storedEpoch} (0: not stored, the region is scanned for the highest).
     * Call once, before appending.
     */
    public Position replay(long headOffset, long firstSequence, int headEpoch, int storedEpoch, RecordVisitor visitor) {
        long offset = headOffset;
        long sequence = firstSequence;
        int lastEpoch = headEpoch;
        long blocks = 0;
        Stop stop = Stop.REGION_FULL;
        ByteBuf block = PooledByteBufAllocator.DEFAULT.heapBuffer(BLOCK_SIZE, BLOCK_SIZE);
        try {
            while (blocks < regionBlocks) {
                block.clear();
                Stop invalid = readBlock(offset, block) ? check(block, sequence, lastEpoch) : Stop.UNWRITTEN;
                if (invalid != null) {
                    stop = invalid;
                    break;
                }
                lastEpoch = block.getIntLE(EPOCH_OFFSET);
                int count = block.getUnsignedShortLE(COUNT_OFFSET);
                int at = RECORDS_OFFSET;
                for (int i = 0; i < count; i++) {
                    int type = block.getUnsignedByte(at);
                    int length = block.getUnsignedShortLE(at + 1);
                    visitor.record(sequence, type, block.slice(at + RECORD_HEADER, length));
                    at += RECORD_HEADER + length;
                }
                blocks++;
                sequence++;
                offset = advance(offset);
            }
        } finally {
            block.release();
        }
        this.nextOffset = offset;
        this.nextSequence = sequence;
        this.epoch = Math.max(storedEpoch != 0 ? storedEpoch : highestEpochInRegion(), lastEpoch) + 1;
        this.epochDurable = null;
        this.blocksSinceHead = blocks;
        return new Position(offset, sequence, epoch, blocks, stop);
    }

    /**
     * Starts a fresh log (a new container): the first block goes to {@code headOffset} with {@code firstSequence},
     * in epoch 1, which the caller has made durable (a new superblock says 1).
     */
    public void start(long headOffset, long firstSequence) {
        this.nextOffset = headOffset;
        this.nextSequence = firstSequence;
        this.epoch = 1;
        this.epochDurable = CompletableFuture.completedFuture(null);
        this.blocksSinceHead = 0;
    }

    /** The current era's epoch: what a checkpoint stores as the head epoch. */
    public int epoch() {
        return epoch;
    }

    /** The caller has made the current epoch durable itself (a checkpoint's superblock carries it). */
    public void epochRecorded() {
        if (epochDurable == null) {
            epochDurable = CompletableFuture.completedFuture(null);
        }
    }

    /** The highest epoch of any block of this container in the region, valid or not in sequence; 0 if none. */
    private int highestEpochInRegion() {
        int highest = 0;
        int chunkBlocks = (int) Math.min(regionBlocks, 256);
        ByteBuf chunk = PooledByteBufAllocator.DEFAULT.heapBuffer(chunkBlocks * BLOCK_SIZE, chunkBlocks * BLOCK_SIZE);
        try {
            for (long first = 0; first < regionBlocks; first += chunkBlocks) {
                int n = (int) Math.min(chunkBlocks, regionBlocks - first);
                chunk.clear();
                if (Container.readNow(device, regionOffset + first * BLOCK_SIZE, n * BLOCK_SIZE, chunk) != IoCompletion.OK) {
                    throw new VolumeException("cannot read the metadata log to find its highest epoch");
                }
                for (int i = 0; i < n; i++) {
                    ByteBuf block = chunk.slice(i * BLOCK_SIZE, BLOCK_SIZE);
                    if (block.getIntLE(MAGIC_OFFSET) == MAGIC && block.getLongLE(CONTAINER_OFFSET) == containerTag
                            && block.getIntLE(CRC_OFFSET) == crc(block)) {
                        highest = Math.max(highest, block.getIntLE(EPOCH_OFFSET));
                    }
                }
            }
        } finally {
            chunk.release();
        }
        return highest;
    }

    /** Null if replay may take {@code block}, else why not. */
    private Stop check(ByteBuf block, long expectedSequence, int lastEpoch) {
        if (block.getIntLE(MAGIC_OFFSET) != MAGIC) {
            return Stop.UNWRITTEN;
        }
        boolean ours = block.getLongLE(CONTAINER_OFFSET) == containerTag;
        if (block.getIntLE(CRC_OFFSET) != crc(block)) {
            return ours ? Stop.TORN : Stop.FOREIGN;
        }
        if (!ours) {
            return Stop.FOREIGN;
        }
        long sequence = block.getLongLE(SEQUENCE_OFFSET);
        if (sequence != expectedSequence) {
            return sequence < expectedSequence ? Stop.OLDER_LAP : Stop.SEQUENCE_GAP;
        }
        if (block.getIntLE(EPOCH_OFFSET) < lastEpoch) {
            return Stop.STALE_EPOCH;
        }
        return block.getUnsignedShortLE(USED_OFFSET) <= BLOCK_SIZE - RECORDS_OFFSET ? null : Stop.BAD_LENGTH;
    }

    /** Adds a record to the next commit. Records larger than {@link #MAX_PAYLOAD} must be split by the caller. */
    public void append(int type, ByteBuf payload) {
        int length = payload.readableBytes();
        if (length > MAX_PAYLOAD || type < 0 || type > 255) {
            throw new IllegalArgumentException("record of type " + type + " and " + length + " bytes");
        }
        if (open != null && open.writerIndex() + RECORD_HEADER + length > BLOCK_SIZE) {
            seal();
        }
        if (open == null) {
            if (blocksSinceHead + sealed.size() + 1 > regionBlocks) {
                throw new IllegalStateException("metadata log full: checkpoint first");
            }
            open = PooledByteBufAllocator.DEFAULT.directBuffer(BLOCK_SIZE, BLOCK_SIZE);
            open.writeZero(RECORDS_OFFSET);
            openCount = 0;
        }
        open.writeByte(type);
        open.writeShortLE(length);
        open.writeBytes(payload, payload.readerIndex(), length);
        openCount++;
    }

    /** Blocks (committed since the head, plus pending) and the region's capacity, for checkpoint decisions. */
    public long blocksUsed() {
        return blocksSinceHead + sealed.size() + (open == null ? 0 : 1);
    }

    /** Blocks committed (written) since the head; {@link #blocksUsed()} minus this is what is pending. */
    public long committedBlocksSinceHead() {
        return blocksSinceHead;
    }

    public long capacityBlocks() {
        return regionBlocks;
    }

    /** Where the next block goes and its sequence: a checkpoint records these as the new head. */
    public long nextOffset() {
        return nextOffset;
    }

    public long nextSequence() {
        return nextSequence + sealed.size() + (open == null ? 0 : 1);
    }

    /** After a checkpoint: the log now starts at the next block to write. */
    public void headMoved() {
        blocksSinceHead = 0;
    }

    /**
     * Writes every pending record (whole blocks, never rewritten) and flushes the device; the future
     * completes when they are durable. Nothing pending: completes at once.
     */
    public CompletableFuture<Void> commit() {
        if (open != null) {
            seal();
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (sealed.isEmpty()) {
            // Nothing new, but the caller may rely on earlier commits: answer when they are durable.
            return previous;
        }
        List<ByteBuf> blocks = new ArrayList<>(sealed);
        sealed.clear();
        long[] offsets = new long[blocks.size()];
        for (int i = 0; i < blocks.size(); i++) {
            ByteBuf b = blocks.get(i);
            b.setLongLE(SEQUENCE_OFFSET, nextSequence);
            b.setIntLE(EPOCH_OFFSET, epoch);
            b.setIntLE(CRC_OFFSET, crc(b));
            offsets[i] = regionOffset + nextOffset;
            nextSequence++;
            nextOffset = advance(nextOffset);
            blocksSinceHead++;
        }
        if (epochDurable == null) {
            epochDurable = epochStore.record(epoch);
        }
        if (epochDurable.isDone() && !epochDurable.isCompletedExceptionally()) {
            writeBlocks(blocks, offsets, done);
        } else {
            // The era's first commit: no block of it may reach the device before its epoch is durable.
            epochDurable.whenComplete((v, e) -> {
                if (e == null) {
                    writeBlocks(blocks, offsets, done);
                } else {
                    blocks.forEach(ByteBuf::release);
                    done.completeExceptionally(new VolumeException("the metadata log's epoch could not be made durable: "
                            + e.getMessage(), e));
                }
            });
        }
        // Replay stops at the first missing block, so this commit is durable only once every earlier one is.
        CompletableFuture<Void> chained = previous.thenCombine(done, (a, b) -> null);
        previous = chained;
        return chained;
    }

    private void writeBlocks(List<ByteBuf> blocks, long[] offsets, CompletableFuture<Void> done) {
        int[] remaining = {blocks.size()};
        int[] failed = {IoCompletion.OK};
        IoCompletion<ByteBuf> written = (b, errno) -> {
            b.release();
            boolean last;
            synchronized (remaining) {
                if (errno != IoCompletion.OK) {
                    failed[0] = errno;
                }
                last = --remaining[0] == 0;
            }
            if (!last) {
                return;
            }
            if (failed[0] != IoCompletion.OK) {
                done.completeExceptionally(new VolumeException("metadata log write failed (errno " + failed[0] + ")"));
                return;
            }
            device.flush(done, (d, flushErrno) -> {
                if (flushErrno == IoCompletion.OK) {
                    d.complete(null);
                } else {
                    d.completeExceptionally(new VolumeException("metadata log flush failed (errno " + flushErrno + ")"));
                }
            });
        };
        for (int i = 0; i < blocks.size(); i++) {
            device.write(offsets[i], BLOCK_SIZE, blocks.get(i), false, blocks.get(i), written);
        }
    }

    /** Commits and waits (start-up, tests, checkpoints). */
    public void commitAndWait() {
        try {
            commit().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VolumeException("interrupted while committing the metadata log", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof VolumeException v ? v : new VolumeException("metadata log commit failed", e.getCause());
        } catch (TimeoutException e) {
            throw new VolumeException("metadata log commit did not finish in 60 s", e);
        }
    }

    /** Releases pending blocks that were never committed. */
    public void discardPending() {
        if (open != null) {
            open.release();
            open = null;
        }
        sealed.forEach(ByteBuf::release);
        sealed.clear();
    }

    private void seal() {
        open.setIntLE(MAGIC_OFFSET, MAGIC);
        open.setShortLE(COUNT_OFFSET, openCount);
        open.setShortLE(USED_OFFSET, open.writerIndex() - RECORDS_OFFSET);
        open.setLongLE(CONTAINER_OFFSET, containerTag);
        open.writeZero(BLOCK_SIZE - open.writerIndex());
        sealed.add(open);
        open = null;
    }

    private long advance(long offset) {
        long next = offset + BLOCK_SIZE;
        return next == regionBlocks * BLOCK_SIZE ? 0 : next;
    }

    private boolean readBlock(long offset, ByteBuf into) {
        return Container.readNow(device, regionOffset + offset, BLOCK_SIZE, into) == IoCompletion.OK;
    }

    static int crc(ByteBuf block) {
        CRC32C c = new CRC32C();
        c.update(block.nioBuffer(SEQUENCE_OFFSET, BLOCK_SIZE - SEQUENCE_OFFSET));
        return (int) c.getValue();
    }
}
