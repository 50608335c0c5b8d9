package io.vvolgate.gateway.volume;

import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.Arrays;
import java.util.BitSet;
import java.util.UUID;

import static io.vvolgate.gateway.volume.VolumeIo.flush;
import static io.vvolgate.gateway.volume.VolumeIo.pattern;
import static io.vvolgate.gateway.volume.VolumeIo.read;
import static io.vvolgate.gateway.volume.VolumeIo.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Volumes, snapshots, clones and their space, as an administrator and a host would see them. */
@ExtendWith(LeakFailingExtension.class)
@Timeout(60)
class ContainerTest {
    static final int CLUSTER = 64 * 1024;
    final MemoryBlockDevice disk = new MemoryBlockDevice(256L << 20, 512);
    Container container = Container.format(disk, UUID.randomUUID(), CLUSTER);

    @AfterEach
    void close() {
        container.close();
        disk.close();
    }

    static byte[] id(int n) {
        byte[] b = new byte[16];
        b[15] = (byte) n;
        return b;
    }

    VirtualVolume volume(String name, long size) {
        return container.createVolume(name, VolumeType.DATA, size, 512, id(name.hashCode()), UUID.randomUUID());
    }

    Container reopen() {
        container.close();
        container = Container.open(disk);
        return container;
    }

    @Test
    void aNewVolumeReadsZeroesAndKeepsWhatIsWrittenAcrossReopen() {
        VirtualVolume v = volume("vm1-data", 1L << 30);
        VolumeDevice d = container.device(v.id());
        assertEquals(1L << 30, d.size());
        assertArrayEquals(new byte[8192], read(d, 123 * 512, 8192));
        byte[] a = pattern(4096, 1);           // inside one cluster
        byte[] b = pattern(3 * CLUSTER, 2);    // across clusters, unaligned start
        assertEquals(IoCompletion.OK, write(d, 512, a, false));
        assertEquals(IoCompletion.OK, write(d, CLUSTER * 10 + 1024, b, false));
        assertEquals(IoCompletion.OK, flush(d));
        container.setMetadata(v.id(), "VMW_VmID", "5012a3f4");

        reopen();
        VolumeDevice again = container.device(v.id());
        assertArrayEquals(a, read(again, 512, 4096));
        assertArrayEquals(b, read(again, CLUSTER * 10 + 1024, 3 * CLUSTER));
        assertArrayEquals(new byte[512], read(again, 0, 512), "the rest of a written cluster reads as zeroes");
        assertEquals("vm1-data", container.volume(v.id()).name());
        assertEquals("5012a3f4", container.metadata(v.id()).get("VMW_VmID"));
        assertEquals(4 * CLUSTER + CLUSTER, container.allocatedBytes(v.id()));
    }

    @Test
    void aSnapshotKeepsThePastWhileTheVolumeChanges() {
        VirtualVolume v = volume("vm", 64L << 20);
        VolumeDevice d = container.device(v.id());
        byte[] before = pattern(CLUSTER * 2, 3);
        write(d, 0, before, false);
        VirtualVolume snap = container.snapshot(v.id(), "snap-1", id(50), UUID.randomUUID());
        byte[] after = pattern(4096, 4);
        write(d, 8192, after, false);

        VolumeDevice s = container.device(snap.id());
        assertArrayEquals(before, read(s, 0, CLUSTER * 2));
        byte[] expected = before.clone();
        System.arraycopy(after, 0, expected, 8192, 4096);
        assertArrayEquals(expected, read(d, 0, CLUSTER * 2));
        assertEquals(IoCompletion.EROFS, write(s, 0, after, false), "snapshots are read-only");

        flush(d);
        reopen();
        assertArrayEquals(before, read(container.device(snap.id()), 0, CLUSTER * 2));
        assertArrayEquals(expected, read(container.device(v.id()), 0, CLUSTER * 2));
    }

    @Test
    void linkedClonesAndRevert() {
        VirtualVolume v = volume("golden", 32L << 20);
        VolumeDevice d = container.device(v.id());
        byte[] golden = pattern(CLUSTER, 5);
        write(d, 0, golden, false);
        VirtualVolume snap = container.snapshot(v.id(), "golden-snap", id(60), UUID.randomUUID());
        VirtualVolume clone = container.cloneLinked(snap.id(), "vm-clone", id(61), UUID.randomUUID());
        VolumeDevice c = container.device(clone.id());
        assertArrayEquals(golden, read(c, 0, CLUSTER));
        byte[] mine = pattern(512, 6);
        write(c, 0, mine, false);
        assertArrayEquals(golden, read(d, 0, CLUSTER), "the clone's writes stay in the clone");
        assertArrayEquals(mine, read(c, 0, 512));

        write(d, 0, pattern(CLUSTER, 7), false);
        container.revert(v.id(), snap.id());
        assertArrayEquals(golden, read(d, 0, CLUSTER), "revert brings the snapshot's contents back");
        assertThrows(VolumeException.class, () -> container.cloneLinked(v.id(), "x", id(1), UUID.randomUUID()),
                "clones come from snapshots");
    }

    @Test
    void deletingSnapshotsInAnyOrderReturnsExactlyTheirSpace() {
        VirtualVolume v = volume("vm", 64L << 20);
        VolumeDevice d = container.device(v.id());
        write(d, 0, pattern(8 * CLUSTER, 8), false);
        long base = container.space().used();
        long[] snaps = new long[5];
        for (int i = 0; i < snaps.length; i++) {
            snaps[i] = container.snapshot(v.id(), "s" + i, id(70 + i), UUID.randomUUID()).id();
            write(d, (long) i * CLUSTER, pattern(CLUSTER, 100 + i), false);
        }
        assertEquals(base + 5L * CLUSTER, container.space().used(), "each overwrite after a snapshot copied one cluster");
        for (int i : new int[] {2, 0, 4, 1, 3}) {
            container.deleteVolume(snaps[i]);
        }
        assertEquals(base, container.space().used());
        container.deleteVolume(v.id());
        flush(d);
        assertEquals(0, container.space().used());
        assertEquals(0, reopen().space().used(), "and so after a restart");
    }

    @Test
    void growWorksShrinkIsRefusedAndSpaceIsReported() {
        VirtualVolume v = volume("grow", 8L << 20);
        container.resizeVolume(v.id(), 16L << 20);
        VolumeDevice d = container.device(v.id());
        assertEquals(16L << 20, d.size());
        byte[] tail = pattern(4096, 9);
        assertEquals(IoCompletion.OK, write(d, (16L << 20) - 4096, tail, false));
        assertArrayEquals(tail, read(d, (16L << 20) - 4096, 4096));
        VolumeException e = assertThrows(VolumeException.class, () -> container.resizeVolume(v.id(), 4L << 20));
        assertTrue(e.getMessage().contains("refused"), e.getMessage());
        assertEquals(IoCompletion.ERANGE, write(d, 16L << 20, tail, false));
        Container.Space space = container.space();
        assertEquals(16L << 20, space.provisioned());
        assertEquals(CLUSTER, space.used());
        assertEquals(space.capacity() - space.used(), space.free());
    }

    @Test
    void zeroesAndDeallocateReadBackAsZeroesAndUnmapWholeClusters() {
        VirtualVolume v = volume("z", 8L << 20);
        VolumeDevice d = container.device(v.id());
        write(d, 0, pattern(4 * CLUSTER, 10), false);
        assertEquals(IoCompletion.OK, VolumeIo.deallocate(d, CLUSTER, 2L * CLUSTER));
        assertEquals(IoCompletion.OK, VolumeIo.zeroes(d, 512, 1024));
        byte[] all = read(d, 0, 4 * CLUSTER);
        assertArrayEquals(new byte[1024], Arrays.copyOfRange(all, 512, 1536));
        assertArrayEquals(new byte[2 * CLUSTER], Arrays.copyOfRange(all, CLUSTER, 3 * CLUSTER));
        assertEquals(2L * CLUSTER, container.allocatedBytes(v.id()), "two whole clusters returned");
    }

    @Test
    void allocatedAndUnsharedBitmaps() {
        VirtualVolume v = volume("bits", 8L << 20);
        VolumeDevice d = container.device(v.id());
        write(d, 0, pattern(CLUSTER, 11), false);
        write(d, 5L * CLUSTER, pattern(CLUSTER, 12), false);
        VirtualVolume snap = container.snapshot(v.id(), "base", id(90), UUID.randomUUID());
        write(d, 5L * CLUSTER, pattern(512, 13), false);
        write(d, 7L * CLUSTER, pattern(512, 14), false);
        BitSet allocated = container.allocatedBitmap(v.id());
        assertEquals(BitSet.valueOf(new long[] {(1L) | (1L << 5) | (1L << 7)}), allocated);
        BitSet changed = container.unsharedBitmap(v.id(), snap.id());
        assertEquals(BitSet.valueOf(new long[] {(1L << 5) | (1L << 7)}), changed, "changed since the snapshot");
    }
    @Test
    void checkpointsLetTheLogWrapAndRecoveryReadsCheckpointPlusLog() {
        MemoryBlockDevice small = new MemoryBlockDevice(64L << 20, 512);
        // A 64 KiB log (16 blocks): a checkpoint every dozen commits.
        Container c = Container.format(small, UUID.randomUUID(), CLUSTER, 64 * 1024, 1 << 20);
        VirtualVolume v = c.createVolume("busy", VolumeType.DATA, 16L << 20, 512, id(1), UUID.randomUUID());
        c.setMetadata(v.id(), "k", "v");
        VolumeDevice d = c.device(v.id());
        byte[][] expected = new byte[64][];
        for (int round = 0; round < 200; round++) {
            int slot = round % 64;
            expected[slot] = pattern(4096, round);
            assertEquals(IoCompletion.OK, write(d, slot * (long) CLUSTER, expected[slot], false));
            if (round % 3 == 0) {
                c.snapshot(v.id(), "s" + round, id(2), UUID.randomUUID());
            }
            assertEquals(IoCompletion.OK, flush(d));
        }
        assertTrue(c.checkpointCount() >= 10, "the log wrapped through " + c.checkpointCount() + " checkpoints");
        long volumesBefore = c.volumes().size();
        c.close();
        Container again = Container.open(small);
        VolumeDevice d2 = again.device(v.id());
        for (int slot = 0; slot < 64; slot++) {
            assertArrayEquals(expected[slot], read(d2, slot * (long) CLUSTER, 4096), "slot " + slot);
        }
        assertEquals(volumesBefore, again.volumes().size());
        assertEquals("v", again.metadata(v.id()).get("k"));
        again.close();
        small.close();
    }
    @Test
    void aFullCloneIsUsableAtOnceAndEndsUpSharingNothing() throws Exception {
        VirtualVolume v = volume("template", 32L << 20);
        VolumeDevice d = container.device(v.id());
        byte[] data = pattern(20 * CLUSTER, 21);
        write(d, 0, data, false);
        VirtualVolume snap = container.snapshot(v.id(), "t-snap", id(80), UUID.randomUUID());
        long usedBefore = container.space().used();
        VirtualVolume full = container.cloneFull(snap.id(), "vm-full", id(81), UUID.randomUUID());
        VolumeDevice f = container.device(full.id());
        assertArrayEquals(data, read(f, 0, 20 * CLUSTER), "readable while the copy runs");
        byte[] mine = pattern(4096, 22);
        write(f, 3L * CLUSTER, mine, false); // a host write during the copy wins over the copy
        container.copyDone(full.id()).get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(1.0, container.copyProgress(full.id()));
        byte[] expected = data.clone();
        System.arraycopy(mine, 0, expected, 3 * CLUSTER, 4096);
        assertArrayEquals(expected, read(f, 0, 20 * CLUSTER));
        assertEquals(usedBefore + 20L * CLUSTER, container.space().used(), "twenty clusters of its own");
        container.deleteVolume(snap.id());
        container.deleteVolume(v.id());
        assertArrayEquals(expected, read(f, 0, 20 * CLUSTER), "independent of its origin");
        assertEquals(20L * CLUSTER, container.space().used());
        reopen();
        assertArrayEquals(expected, read(container.device(full.id()), 0, 20 * CLUSTER));
        assertEquals(1.0, container.copyProgress(full.id()));
    }
    @Test
    void thickVolumesReserveTheirSpaceAndThinOnesCannotTakeIt() {
        MemoryBlockDevice small = new MemoryBlockDevice(32L << 20, 512);
        Container c = Container.format(small, UUID.randomUUID(), CLUSTER, 1 << 20, 1 << 20);
        long clusters = c.space().capacity() / CLUSTER;
        long thickClusters = clusters - 8;
        VirtualVolume thick = c.createVolume("thick", VolumeType.DATA, thickClusters * CLUSTER, 512, id(1), UUID.randomUUID(), true);
        assertEquals(thickClusters * CLUSTER, c.space().reserved());
        VirtualVolume thin = c.createVolume("thin", VolumeType.DATA, 64L << 20, 512, id(2), UUID.randomUUID());
        VolumeDevice t = c.device(thin.id());
        for (int i = 0; i < 8; i++) {
            assertEquals(IoCompletion.OK, write(t, (long) i * CLUSTER, pattern(4096, i), false));
        }
        assertEquals(IoCompletion.ENOSPC, write(t, 9L * CLUSTER, pattern(4096, 9), false), "the thick volume's reserve is not for others");
        VolumeDevice k = c.device(thick.id());
        assertEquals(IoCompletion.OK, write(k, 0, pattern((int) (16 * CLUSTER), 10), false), "the thick volume writes from its reserve");
        assertEquals((thickClusters - 16) * CLUSTER, c.space().reserved());
        assertThrows(VolumeException.class,
                () -> c.createVolume("too-big", VolumeType.DATA, 2L * CLUSTER, 512, id(3), UUID.randomUUID(), true));
        c.close();
        Container again = Container.open(small);
        assertTrue(again.volume(thick.id()).thick());
        assertEquals((thickClusters - 16) * CLUSTER, again.space().reserved());
        again.close();
        small.close();
    }
    @Test
    void threeHundredSnapshotsOfOneVolumeEachKeepTheirPointInTime() {
        VirtualVolume v = volume("many-snaps", 64L << 20);
        VolumeDevice d = container.device(v.id());
        long[] snaps = new long[300];
        for (int i = 0; i < snaps.length; i++) {
            // Each round changes one block of a cluster shared with every earlier snapshot.
            write(d, (i % 16) * 512L, pattern(512, i), false);
            snaps[i] = container.snapshot(v.id(), "s" + i, id(i), UUID.randomUUID()).id();
        }
        reopen();
        for (int i = 0; i < snaps.length; i += 7) {
            byte[] cluster = read(container.device(snaps[i]), 0, 16 * 512);
            for (int slot = 0; slot < 16; slot++) {
                int last = -1;
                for (int j = 0; j <= i; j++) {
                    if (j % 16 == slot) {
                        last = j;
                    }
                }
                byte[] expected = last < 0 ? new byte[512] : pattern(512, last);
                assertArrayEquals(expected, Arrays.copyOfRange(cluster, slot * 512, slot * 512 + 512), "snapshot " + i + " block " + slot);
            }
        }
        assertEquals(301, container.volumes().size());
    }

    @Test
    void aFullCloneLoggedTheOldWayInTwoRecordsStillOpensAsAFullClone() throws Exception {
        VirtualVolume v = volume("template", 8L << 20);
        byte[] data = pattern(6 * CLUSTER, 31);
        assertEquals(IoCompletion.OK, write(container.device(v.id()), 0, data, false));
        VirtualVolume snap = container.snapshot(v.id(), "t-snap", id(90), UUID.randomUUID());
        container.close();

        // Append what an older release logged for a full clone: CLONE, then FULL_COPY(1), in two commits.
        Superblock sb = Container.readSuperblock(disk);
        MetadataLog log = new MetadataLog(disk, sb.logOffset(), sb.logLength(), sb.containerId());
        log.replay(sb.logHead(), sb.checkpointSequence() + 1, sb.headEpoch(), sb.epoch(), (seq, type, payload) -> { });
        long cloneId = snap.id() + 1;
        UUID uuid = UUID.randomUUID();
        byte[] name = "old-full".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        log.append(Container.REC_CLONE, io.netty.buffer.Unpooled.buffer().writeLongLE(snap.id()).writeLongLE(cloneId).writeBytes(id(91))
                .writeLong(uuid.getMostSignificantBits()).writeLong(uuid.getLeastSignificantBits())
                .writeShortLE(name.length).writeBytes(name));
        log.commitAndWait();
        log.append(Container.REC_FULL_COPY, io.netty.buffer.Unpooled.buffer().writeLongLE(cloneId).writeByte(1));
        log.commitAndWait();

        container = Container.open(disk);
        VirtualVolume clone = container.volume(cloneId);
        assertEquals("old-full", clone.name());
        assertEquals(uuid, clone.uuid());
        container.copyDone(cloneId).get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertArrayEquals(data, read(container.device(cloneId), 0, 6 * CLUSTER));
        container.deleteVolume(snap.id());
        container.deleteVolume(v.id());
        assertEquals(6L * CLUSTER, container.space().used(), "its copy resumed at open: six clusters of its own");
        assertArrayEquals(data, read(container.device(cloneId), 0, 6 * CLUSTER));
    }
}
