package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SuperblockTest {
    static final UUID ID = UUID.fromString("12345678-9abc-def0-1234-56789abcdef0");

    @Test
    void formatLaysOutLogCheckpointsAndDataWithoutOverlap() {
        Superblock sb = Superblock.format(ID, 1L << 30, 1 << 20, 64L << 20, 32L << 20);
        assertEquals(8192, sb.logOffset());
        assertTrue(sb.checkpointAOffset() >= sb.logOffset() + sb.logLength());
        assertTrue(sb.checkpointBOffset() >= sb.checkpointAOffset() + sb.checkpointLength());
        assertTrue(sb.dataOffset() >= sb.checkpointBOffset() + sb.checkpointLength());
        assertEquals(0, sb.dataOffset() % sb.clusterSize());
        assertTrue(sb.clusterOffset(sb.dataClusters() - 1) + sb.clusterSize() <= sb.deviceSize());
        assertThrows(IllegalArgumentException.class, () -> Superblock.format(ID, 1 << 20, 1 << 20, 64L << 20, 32L << 20));
    }

    @Test
    void writesAndReadsBackAndATornCopyIsRejected() {
        Superblock sb = Superblock.format(ID, 1L << 30, 1 << 16, 16L << 20, 8L << 20).next(1, 77, 4096);
        ByteBuf buf = Unpooled.buffer(Superblock.SIZE);
        sb.writeTo(buf);
        assertEquals(Superblock.SIZE, buf.readableBytes());
        assertEquals(sb, Superblock.readFrom(buf, 0));
        buf.setByte(1000, buf.getByte(1000) ^ 1);
        assertNull(Superblock.readFrom(buf, 0), "a flipped bit fails the checksum");
        ByteBuf zeros = Unpooled.buffer(Superblock.SIZE).writeZero(Superblock.SIZE);
        assertNull(Superblock.readFrom(zeros, 0), "a blank device has no container");
    }

    @Test
    void theNewestValidCopyWins() {
        Superblock one = Superblock.format(ID, 1L << 30, 1 << 16, 16L << 20, 8L << 20);
        Superblock two = one.next(1, 10, 0);
        assertSame(two, Superblock.newest(one, two));
        assertSame(two, Superblock.newest(two, one));
        assertSame(one, Superblock.newest(one, null), "copy B torn: copy A, one generation older, rules");
        assertNull(Superblock.newest(null, null));
    }

    @Test
    void theLogEpochsSurviveTheRoundTripAndAnOldSuperblockReadsThemAsUnknown() {
        Superblock sb = Superblock.format(ID, 1L << 30, 1 << 16, 16L << 20, 8L << 20);
        assertEquals(1, sb.epoch(), "a new container's log starts in epoch 1");
        Superblock era = sb.withEpoch(7);
        Superblock checkpointed = era.next(1, 40, 8192, 7);
        assertEquals(era.generation() + 1, checkpointed.generation());
        assertEquals(7, checkpointed.headEpoch());
        ByteBuf buf = Unpooled.buffer(Superblock.SIZE);
        checkpointed.writeTo(buf);
        assertEquals(checkpointed, Superblock.readFrom(buf, 0));

        // Written before the epochs existed: zeroes at 120..127, and the CRC over them.
        Superblock old = new Superblock(ID, 3, 1 << 16, 1L << 30, 8192, 16L << 20, 17L << 20, 25L << 20, 8L << 20, 1, 9, 0,
                33L << 20, 100, 0, 0);
        ByteBuf oldBuf = Unpooled.buffer(Superblock.SIZE);
        old.writeTo(oldBuf);
        assertEquals(0, oldBuf.getLong(Superblock.HEAD_EPOCH_OFFSET));
        Superblock read = Superblock.readFrom(oldBuf, 0);
        assertEquals(0, read.headEpoch());
        assertEquals(0, read.epoch());
    }
}
