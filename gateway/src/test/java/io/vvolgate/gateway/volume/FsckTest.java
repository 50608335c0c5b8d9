package io.vvolgate.gateway.volume;

import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.device.MirroredDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class FsckTest {
    final MemoryBlockDevice disk = new MemoryBlockDevice(64L << 20, 512);

    @AfterEach
    void close() {
        disk.close();
        legA.close();
        legB.close();
    }

    Container populated() {
        Container c = Container.format(disk, UUID.randomUUID(), 64 * 1024);
        VirtualVolume v = c.createVolume("v", VolumeType.DATA, 8L << 20, 512, new byte[16], UUID.randomUUID());
        VolumeIo.write(c.device(v.id()), 0, VolumeIo.pattern(200_000 / 512 * 512, 1), false);
        c.snapshot(v.id(), "s", new byte[16], UUID.randomUUID());
        c.close();
        return c;
    }

    void smash(long offset, int length) {
        VolumeIo.await(f -> disk.write(offset, length, Unpooled.wrappedBuffer(new byte[length]).writerIndex(length), false, f, VolumeIo.DONE));
    }

    @Test
    void aHealthyContainerIsCleanAndUnchanged() {
        populated();
        byte[] before = VolumeIo.read(disk, 0, 1 << 20);
        Fsck.Report r = Fsck.check(disk, false, true);
        assertTrue(r.clean(), r.findings().toString());
        assertArrayEquals(before, VolumeIo.read(disk, 0, 1 << 20), "fsck without repair writes nothing");
    }

    @Test
    void aTornSuperblockCopyIsReportedAndRepairedOnlyWhenAsked() {
        populated();
        smash(Superblock.COPY_B_OFFSET, 512);
        Fsck.Report look = Fsck.check(disk, false, false);
        assertFalse(look.clean());
        assertFalse(look.hasErrors(), "the other copy still describes the container");
        assertTrue(look.findings().toString().contains("copy B is damaged"), look.findings().toString());
        Fsck.Report fix = Fsck.check(disk, true, false);
        assertTrue(fix.repaired());
        assertTrue(Fsck.check(disk, false, false).clean());
    }

    /** Where replay ends on the disk as it is now (read-only open). */
    MetadataLog.Position replayEnd() {
        Container c = Container.openReadOnly(disk);
        try {
            return c.replayEnd();
        } finally {
            c.closeWithoutCommit();
        }
    }

    String logFinding(Fsck.Report r) {
        return r.findings().stream().map(Fsck.Finding::toString).filter(f -> f.contains("log: ")).findFirst()
                .orElseThrow(() -> new AssertionError("no log finding in " + r.findings()));
    }

    /** The log block at {@code index} of the region: read, changed by {@code change}, written back. */
    void rewriteLogBlock(long index, java.util.function.Consumer<io.netty.buffer.ByteBuf> change) {
        long at = Container.readSuperblock(disk).logOffset() + index * MetadataLog.BLOCK_SIZE;
        io.netty.buffer.ByteBuf block = Unpooled.wrappedBuffer(VolumeIo.read(disk, at, MetadataLog.BLOCK_SIZE));
        change.accept(block);
        VolumeIo.await(f -> disk.write(at, MetadataLog.BLOCK_SIZE, block, false, f, VolumeIo.DONE));
    }

    @Test
    void aCleanLogEndsWhereNothingWasWrittenAndFsckSaysSo() {
        populated();
        MetadataLog.Position end = replayEnd();
        assertEquals(MetadataLog.Stop.UNWRITTEN, end.stop());
        Fsck.Report r = Fsck.check(disk, false, false);
        assertTrue(r.clean(), r.findings().toString());
        String log = logFinding(r);
        assertTrue(log.contains(end.blocksReplayed() + " block(s) replayed") && log.contains("nothing written there yet")
                && log.contains("Nothing acknowledged is lost"), log);
    }

    @Test
    void aTornLastBlockIsTheExpectedEndOfACrashedCommit() {
        populated();
        MetadataLog.Position end = replayEnd();
        long last = end.offset() / MetadataLog.BLOCK_SIZE - 1;
        rewriteLogBlock(last, b -> b.setByte(MetadataLog.RECORDS_OFFSET + 1, b.getByte(MetadataLog.RECORDS_OFFSET + 1) ^ 0x40));
        MetadataLog.Position after = replayEnd();
        assertEquals(MetadataLog.Stop.TORN, after.stop());
        assertEquals(end.blocksReplayed() - 1, after.blocksReplayed(), "replay stops before the torn block");
        Fsck.Report r = Fsck.check(disk, false, false);
        assertTrue(r.clean(), "a torn tail is what a crash leaves: " + r.findings());
        assertTrue(logFinding(r).contains("log block " + last) && logFinding(r).contains("torn block"), logFinding(r));
    }

    @Test
    void aBlockWithALaterSequenceWhereReplayStopsIsAWarning() {
        populated();
        MetadataLog.Position end = replayEnd();
        long next = end.offset() / MetadataLog.BLOCK_SIZE;
        long at = Container.readSuperblock(disk).logOffset() + (next - 1) * MetadataLog.BLOCK_SIZE;
        byte[] lastBlock = VolumeIo.read(disk, at, MetadataLog.BLOCK_SIZE);
        rewriteLogBlock(next, b -> {
            b.setBytes(0, lastBlock);
            b.setLongLE(MetadataLog.SEQUENCE_OFFSET, end.sequence() + 5);
            b.setIntLE(MetadataLog.CRC_OFFSET, MetadataLog.crc(b));
        });
        assertEquals(MetadataLog.Stop.SEQUENCE_GAP, replayEnd().stop());
        Fsck.Report r = Fsck.check(disk, false, false);
        assertFalse(r.clean());
        assertFalse(r.hasErrors(), "everything acknowledged is before it");
        assertTrue(logFinding(r).contains("later sequence"), logFinding(r));
    }

    @Test
    void countsThatDisagreeWithTheMapsAreReported() {
        populated();
        Container c = Container.openReadOnly(disk);
        try {
            Superblock sb = Container.readSuperblock(disk);
            java.util.BitSet inMaps = new java.util.BitSet();
            for (VirtualVolume v : c.volumes()) {
                v.map.forEachMapped((lc, pc) -> {
                    inMaps.set((int) pc);
                    return 0;
                });
            }
            assertTrue(Fsck.crossCheckCounts(c, sb, inMaps).isEmpty(), "a healthy container's counts agree with its maps");
            long unmapped = inMaps.nextClearBit(0);
            c.refs().increment(unmapped);
            List<Fsck.Finding> leaked = Fsck.crossCheckCounts(c, sb, inMaps);
            assertEquals(1, leaked.size(), leaked.toString());
            assertEquals(Fsck.Severity.WARNING, leaked.getFirst().severity());
            assertTrue(leaked.getFirst().message().contains("no volume's map holds them (the first: " + unmapped + ")"), leaked.toString());
            c.refs().decrement(unmapped);
            inMaps.set((int) unmapped); // as if a map held it while its count is 0
            List<Fsck.Finding> unCounted = Fsck.crossCheckCounts(c, sb, inMaps);
            assertEquals(Fsck.Severity.ERROR, unCounted.getFirst().severity(), unCounted.toString());
            assertTrue(unCounted.getFirst().message().contains("counted free (the first: " + unmapped + ")"), unCounted.toString());
        } finally {
            c.closeWithoutCommit();
        }
    }

    @Test
    void aDeviceWithoutAContainerIsAnError() {
        Fsck.Report r = Fsck.check(disk, false, false);
        assertTrue(r.hasErrors());
        assertTrue(r.findings().toString().contains("no valid superblock"), r.findings().toString());
    }

    // --- a container on a mirror ---

    final MemoryBlockDevice legA = new MemoryBlockDevice(64L << 20, 512);
    final MemoryBlockDevice legB = new MemoryBlockDevice(64L << 20, 512);

    /** A container on a mirror of legA and legB with one volume and a snapshot, cleanly stopped. */
    void populatedMirror() {
        MirroredDevice m = MirroredDevice.open(legA, legB);
        Container c = Container.format(m, UUID.randomUUID(), 64 * 1024);
        VirtualVolume v = c.createVolume("v", VolumeType.DATA, 8L << 20, 512, new byte[16], UUID.randomUUID());
        VolumeIo.write(c.device(v.id()), 0, VolumeIo.pattern(300_000 / 512 * 512, 2), false);
        c.snapshot(v.id(), "s", new byte[16], UUID.randomUUID());
        c.close();
        m.close();
    }

    static String text(Fsck.Report r) {
        return String.join("\n", r.findings().stream().map(Fsck.Finding::toString).toList());
    }

    @Test
    void aMirrorLegIsRecognisedAndTheContainerInsideItChecked() {
        populatedMirror();
        byte[] before = VolumeIo.read(legA, 0, 4 << 20);
        Fsck.Report one = Fsck.checkMirror(legA, "a.img", null, null, false, true);
        assertTrue(one.clean(), text(one));
        assertTrue(text(one).contains("a.img: leg 0 of mirror "), text(one));
        assertTrue(text(one).contains("leg 0 IN_SYNC, leg 1 IN_SYNC; write-intent bitmap: 0 dirty regions of 1 MiB"), text(one));
        assertTrue(text(one).contains("leg 1 (recorded IN_SYNC) was not given: the legs are not compared"), text(one));
        assertTrue(text(one).contains("2 volumes and snapshots"), text(one));
        assertArrayEquals(before, VolumeIo.read(legA, 0, 4 << 20), "fsck without repair writes nothing");

        Fsck.Report both = Fsck.checkMirror(legB, "b.img", legA, "a.img", false, false);
        assertTrue(both.clean(), text(both));
        assertTrue(text(both).contains("the container is checked on a.img"), "leg 0, where reads come from: " + text(both));
        assertTrue(text(both).contains("the legs agree: "), text(both));
        Fsck.Report all = Fsck.checkMirror(legA, "a.img", legB, "b.img", false, true);
        assertTrue(text(all).contains("bytes of the whole mirror compared"), text(all));
    }

    @Test
    void legsThatDifferWhereTheBitmapSaysTheyAgreeAreAnError() {
        populatedMirror();
        // Leg 1's copy of the first log block is damaged behind the mirror's back.
        long logBlock = MirroredDevice.DATA_OFFSET + 2 * Superblock.SIZE;
        VolumeIo.await(f -> legB.write(logBlock, 512, Unpooled.wrappedBuffer(new byte[512]), false, f, VolumeIo.DONE));
        Fsck.Report r = Fsck.checkMirror(legA, "a.img", legB, "b.img", false, false);
        assertTrue(r.hasErrors(), text(r));
        assertTrue(text(r).contains("the legs differ where the bitmap says they agree, in 1 ranges of mirror bytes [0..1048576]"), text(r));
        assertTrue(text(r).contains("2 volumes and snapshots"), "the container on leg 0 is intact: " + text(r));
    }

    @Test
    void aDirtyMirrorIsReportedAndRepairedOnlyWhenAsked() {
        // An unclean stop: writes went through the mirror and it was never closed, so its bits stay set.
        MirroredDevice m = MirroredDevice.open(legA, legB);
        Container c = Container.format(m, UUID.randomUUID(), 64 * 1024);
        VirtualVolume v = c.createVolume("v", VolumeType.DATA, 8L << 20, 512, new byte[16], UUID.randomUUID());
        VolumeIo.write(c.device(v.id()), 0, VolumeIo.pattern(64 * 1024, 3), true);
        byte[] imageA = VolumeIo.read(legA, 0, (int) legA.size());
        byte[] imageB = VolumeIo.read(legB, 0, (int) legB.size());
        c.close();
        m.close();
        VolumeIo.write(legA, 0, imageA, false);
        VolumeIo.write(legB, 0, imageB, false);

        Fsck.Report look = Fsck.checkMirror(legA, "a.img", legB, "b.img", false, false);
        assertFalse(look.hasErrors(), text(look));
        assertFalse(look.clean(), text(look));
        assertTrue(text(look).contains("dirty regions: the legs may differ there"), text(look));
        assertTrue(text(look).contains("bytes in dirty regions left out"), text(look));
        assertArrayEquals(imageA, VolumeIo.read(legA, 0, (int) legA.size()), "leg 0 unchanged");
        assertArrayEquals(imageB, VolumeIo.read(legB, 0, (int) legB.size()), "leg 1 unchanged");

        Fsck.Report notBoth = Fsck.checkMirror(legA, "a.img", null, null, true, false);
        assertFalse(notBoth.repaired(), text(notBoth));
        assertTrue(text(notBoth).contains("give both legs to repair"), text(notBoth));
        assertArrayEquals(imageA, VolumeIo.read(legA, 0, (int) legA.size()), "one leg alone is not repaired");

        Fsck.Report fix = Fsck.checkMirror(legA, "a.img", legB, "b.img", true, true);
        assertTrue(fix.repaired(), text(fix));
        assertTrue(fix.clean(), text(fix));
        assertTrue(text(fix).contains("repaired "), text(fix));
        assertTrue(Fsck.checkMirror(legA, "a.img", legB, "b.img", false, true).clean());
        MirroredDevice again = MirroredDevice.open(legA, legB);
        assertEquals(MirroredDevice.State.IN_SYNC, again.state());
        assertEquals(0, again.dirtyRegions(), "nothing left to repair");
        again.close();
    }
}
