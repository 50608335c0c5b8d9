package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The container superblock: what a container is and where its parts lie on the device. Two copies, at
 * offsets 0 and 4096; each write bumps the generation, and the reader takes the valid copy with the highest
 * generation, so a write torn by a power cut leaves the other copy (one generation older) in charge.
 *
 * <pre>
 *  offset  size  field
 *       0     8  magic "VVGCTNR1"
 *       8     4  format version (1)
 *      16    16  container UUID
 *      32     8  generation
 *      40     4  cluster size in bytes (power of two, at least 4096)
 *      48     8  device size in bytes
 *      56     8  metadata log offset        64  8  metadata log length
 *      72     8  checkpoint A offset        80  8  checkpoint B offset      88  8  checkpoint length
 *      96     1  active checkpoint (0 none, 1 A, 2 B)
 *     104     8  log sequence the active checkpoint covers (replay starts after it)
 *     112     8  log head: offset in the log region of the first block to replay
 *     120     4  head epoch: no block from the log head on has a lower epoch (the checkpointing era's)
 *     124     4  epoch: the highest epoch any era of the log has used (made durable before it writes)
 *     128     8  data offset (first data cluster)   136  8  data clusters
 *    4092     4  CRC32C of bytes 0..4091
 * </pre>
 *
 * All integers little-endian. The two epochs are what keeps replay from taking a stale log block after
 * repeated cuts (see {@link MetadataLog}); a superblock written before they existed has zeroes there, read
 * as "not known". The record is immutable; {@link #withGeneration} and friends make the next one.
 */
public record Superblock(UUID containerId, long generation, int clusterSize, long deviceSize,
                         long logOffset, long logLength, long checkpointAOffset, long checkpointBOffset,
                         long checkpointLength, int activeCheckpoint, long checkpointSequence, long logHead,
                         long dataOffset, long dataClusters, int headEpoch, int epoch) {
    public static final int SIZE = 4096;
    public static final long COPY_A_OFFSET = 0;
    public static final long COPY_B_OFFSET = 4096;
    public static final int VERSION = 1;
    static final byte[] MAGIC = "VVGCTNR1".getBytes(StandardCharsets.US_ASCII);

    static final int MAGIC_OFFSET = 0;
    static final int VERSION_OFFSET = 8;
    static final int UUID_OFFSET = 16;
    static final int GENERATION_OFFSET = 32;
    static final int CLUSTER_SIZE_OFFSET = 40;
    static final int DEVICE_SIZE_OFFSET = 48;
    static final int LOG_OFFSET_OFFSET = 56;
    static final int LOG_LENGTH_OFFSET = 64;
    static final int CHECKPOINT_A_OFFSET = 72;
    static final int CHECKPOINT_B_OFFSET = 80;
    static final int CHECKPOINT_LENGTH_OFFSET = 88;
    static final int ACTIVE_CHECKPOINT_OFFSET = 96;
    static final int CHECKPOINT_SEQUENCE_OFFSET = 104;
    static final int LOG_HEAD_OFFSET = 112;
    static final int HEAD_EPOCH_OFFSET = 120;
    static final int EPOCH_OFFSET = 124;
    static final int DATA_OFFSET_OFFSET = 128;
    static final int DATA_CLUSTERS_OFFSET = 136;
    static final int CRC_OFFSET = SIZE - 4;

    public Superblock {
        if (clusterSize < 4096 || Integer.bitCount(clusterSize) != 1) {
            throw new IllegalArgumentException("cluster size must be a power of two of at least 4096, not " + clusterSize);
        }
        if (activeCheckpoint < 0 || activeCheckpoint > 2) {
            throw new IllegalArgumentException("active checkpoint must be 0, 1 or 2");
        }
    }

    /**
     * Lays out a new container on a device of {@code deviceSize} bytes: the two superblock copies, the
     * metadata log, two checkpoint areas, then data clusters.
     */
    public static Superblock format(UUID id, long deviceSize, int clusterSize, long logLength, long checkpointLength) {
        long log = 2L * SIZE;
        long cpA = align(log + logLength, clusterSize);
        long cpB = align(cpA + checkpointLength, clusterSize);
        long data = align(cpB + checkpointLength, clusterSize);
        long clusters = (deviceSize - data) / clusterSize;
        if (clusters < 1) {
            throw new IllegalArgumentException("a device of " + deviceSize + " bytes is too small for a container");
        }
        return new Superblock(id, 1, clusterSize, deviceSize, log, logLength, cpA, cpB, checkpointLength, 0, 0, 0, data, clusters,
                1, 1);
    }

    private static long align(long value, long to) {
        return (value + to - 1) / to * to;
    }

    /** The same layout one generation on, with the checkpoint and log head given (epochs unchanged). */
    public Superblock next(int activeCheckpoint, long checkpointSequence, long logHead) {
        return next(activeCheckpoint, checkpointSequence, logHead, headEpoch);
    }

    /**
     * A checkpoint's superblock: one generation on, with the checkpoint, the log head and the epoch of the
     * era that took it, which becomes the head epoch (and the stored epoch, if it was not yet).
     */
    public Superblock next(int activeCheckpoint, long checkpointSequence, long logHead, int headEpoch) {
        return new Superblock(containerId, generation + 1, clusterSize, deviceSize, logOffset, logLength,
                checkpointAOffset, checkpointBOffset, checkpointLength, activeCheckpoint, checkpointSequence, logHead,
                dataOffset, dataClusters, headEpoch, Math.max(epoch, headEpoch));
    }

    /** One generation on, storing {@code epoch} as the log's epoch (a new era, before it writes). */
    public Superblock withEpoch(int epoch) {
        return new Superblock(containerId, generation + 1, clusterSize, deviceSize, logOffset, logLength,
                checkpointAOffset, checkpointBOffset, checkpointLength, activeCheckpoint, checkpointSequence, logHead,
                dataOffset, dataClusters, headEpoch, epoch);
    }

    /** Byte offset of data cluster {@code cluster}. */
    public long clusterOffset(long cluster) {
        return dataOffset + cluster * clusterSize;
    }

    /** Writes the 4096-byte image, CRC included, at {@code out}'s writer index. */
    public void writeTo(ByteBuf out) {
        int base = out.writerIndex();
        out.writeZero(SIZE);
        out.setBytes(base + MAGIC_OFFSET, MAGIC);
        out.setIntLE(base + VERSION_OFFSET, VERSION);
        out.setLong(base + UUID_OFFSET, containerId.getMostSignificantBits());
        out.setLong(base + UUID_OFFSET + 8, containerId.getLeastSignificantBits());
        out.setLongLE(base + GENERATION_OFFSET, generation);
        out.setIntLE(base + CLUSTER_SIZE_OFFSET, clusterSize);
        out.setLongLE(base + DEVICE_SIZE_OFFSET, deviceSize);
        out.setLongLE(base + LOG_OFFSET_OFFSET, logOffset);
        out.setLongLE(base + LOG_LENGTH_OFFSET, logLength);
        out.setLongLE(base + CHECKPOINT_A_OFFSET, checkpointAOffset);
        out.setLongLE(base + CHECKPOINT_B_OFFSET, checkpointBOffset);
        out.setLongLE(base + CHECKPOINT_LENGTH_OFFSET, checkpointLength);
        out.setByte(base + ACTIVE_CHECKPOINT_OFFSET, activeCheckpoint);
        out.setLongLE(base + CHECKPOINT_SEQUENCE_OFFSET, checkpointSequence);
        out.setLongLE(base + LOG_HEAD_OFFSET, logHead);
        out.setIntLE(base + HEAD_EPOCH_OFFSET, headEpoch);
        out.setIntLE(base + EPOCH_OFFSET, epoch);
        out.setLongLE(base + DATA_OFFSET_OFFSET, dataOffset);
        out.setLongLE(base + DATA_CLUSTERS_OFFSET, dataClusters);
        out.setIntLE(base + CRC_OFFSET, crc(out, base));
    }

    /**
     * Reads one copy; null if it is not a valid superblock (wrong magic, bad checksum — e.g. torn — or a
     * version this code does not know).
     */
    public static Superblock readFrom(ByteBuf in, int base) {
        for (int i = 0; i < MAGIC.length; i++) {
            if (in.getByte(base + i) != MAGIC[i]) {
                return null;
            }
        }
        if (in.getIntLE(base + CRC_OFFSET) != crc(in, base) || in.getIntLE(base + VERSION_OFFSET) != VERSION) {
            return null;
        }
        try {
            return new Superblock(new UUID(in.getLong(base + UUID_OFFSET), in.getLong(base + UUID_OFFSET + 8)),
                    in.getLongLE(base + GENERATION_OFFSET), in.getIntLE(base + CLUSTER_SIZE_OFFSET),
                    in.getLongLE(base + DEVICE_SIZE_OFFSET), in.getLongLE(base + LOG_OFFSET_OFFSET),
                    in.getLongLE(base + LOG_LENGTH_OFFSET), in.getLongLE(base + CHECKPOINT_A_OFFSET),
                    in.getLongLE(base + CHECKPOINT_B_OFFSET), in.getLongLE(base + CHECKPOINT_LENGTH_OFFSET),
                    in.getUnsignedByte(base + ACTIVE_CHECKPOINT_OFFSET), in.getLongLE(base + CHECKPOINT_SEQUENCE_OFFSET),
                    in.getLongLE(base + LOG_HEAD_OFFSET), in.getLongLE(base + DATA_OFFSET_OFFSET),
                    in.getLongLE(base + DATA_CLUSTERS_OFFSET), in.getIntLE(base + HEAD_EPOCH_OFFSET),
                    in.getIntLE(base + EPOCH_OFFSET));
        } catch (IllegalArgumentException e) {
            return null; // checksum right but fields impossible: treat as not ours
        }
    }

    /** Of two copies (either may be null), the one to trust: the valid one with the highest generation. */
    public static Superblock newest(Superblock a, Superblock b) {
        if (a == null) {
            return b;
        }
        if (b == null) {
            return a;
        }
        return a.generation >= b.generation ? a : b;
    }

    private static int crc(ByteBuf buf, int base) {
        CRC32C c = new CRC32C();
        ByteBuffer nio = buf.nioBuffer(base, CRC_OFFSET);
        c.update(nio);
        return (int) c.getValue();
    }
}
