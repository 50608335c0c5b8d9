package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;

import static io.vvolgate.gateway.volume.LegacyCheckpointWorkload.fill;
import static io.vvolgate.gateway.volume.VolumeIo.flush;
import static io.vvolgate.gateway.volume.VolumeIo.read;
import static io.vvolgate.gateway.volume.VolumeIo.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The container's checkpoint image ({@code Container.serialize}/{@code loadCheckpoint}): many snapshots fit
 * it, what was shared before a restart is shared after it, images of earlier builds still load, and a state
 * too large for it leaves the container usable for deletes. A class of its own beside {@link ContainerTest}
 * because these need their own devices and layouts.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(120)
class ContainerCheckpointTest {
    static final int BLOCK = 4096;

    static byte[] id(int n) {
        byte[] b = new byte[16];
        b[14] = (byte) (n >> 8);
        b[15] = (byte) n;
        return b;
    }

    /** Every map's nodes as the checkpoint writes them: equal bytes mean equal trees with equal sharing. */
    static byte[] mapImage(Container c) {
        ByteBuf out = Unpooled.buffer();
        try {
            ClusterMap.ImageWriter w = new ClusterMap.ImageWriter(out);
            synchronized (c) {
                for (VirtualVolume v : c.volumes()) {
                    out.writeLongLE(w.add(v.map));
                }
            }
            byte[] b = new byte[out.readableBytes()];
            out.readBytes(b);
            return b;
        } finally {
            out.release();
        }
    }

    static int[] refcounts(Container c) {
        synchronized (c) {
            int[] counts = new int[(int) c.refs().capacity()];
            for (int i = 0; i < counts.length; i++) {
                counts[i] = c.refs().get(i);
            }
            return counts;
        }
    }

    @Test
    void twoHundredSixtySnapshotsOfAMostlyWrittenVolumeCheckpointAndKeepTheirPointInTimeAcrossReopen() {
        // 4 KiB clusters on 64 MiB: a 1 MiB checkpoint area. A flat image would need 16 bytes a mapping of every
        // map, 260 x 10,000 x 16 = 42 MB; the shared-node image needs about one map plus the changes.
        MemoryBlockDevice disk = new MemoryBlockDevice(64L << 20, 512);
        Container c = Container.format(disk, UUID.randomUUID(), BLOCK);
        int blocks = 12_288; // 48 MiB
        int written = 10_000;
        VirtualVolume v = c.createVolume("db", VolumeType.DATA, (long) blocks * BLOCK, 512, id(1), UUID.randomUUID());
        VolumeDevice d = c.device(v.id());
        for (int at = 0; at < written; at += 64) {
            int n = Math.min(64, written - at);
            byte[] chunk = new byte[n * BLOCK];
            for (int b = 0; b < n; b++) {
                System.arraycopy(fill(BLOCK, seed(at + b, -1)), 0, chunk, b * BLOCK, BLOCK);
            }
            assertEquals(IoCompletion.OK, write(d, (long) at * BLOCK, chunk, false));
        }
        // history[block]: rounds that wrote it after the first fill, in order (round -1 = the fill).
        Map<Integer, List<Integer>> history = new TreeMap<>();
        Random random = new Random(260);
        int snapshots = 260;
        long[] snaps = new long[snapshots];
        for (int round = 0; round < snapshots; round++) {
            for (int w = 0; w < 4; w++) {
                int block = random.nextInt(blocks);
                assertEquals(IoCompletion.OK, write(d, (long) block * BLOCK, fill(BLOCK, seed(block, round)), false));
                history.computeIfAbsent(block, k -> new ArrayList<>()).add(round);
            }
            snaps[round] = c.snapshot(v.id(), "db-" + round, id(2 + round), UUID.randomUUID()).id();
        }
        assertEquals(IoCompletion.OK, flush(d));
        assertTrue(c.checkpointCount() >= 1, "the log wrapped through a checkpoint");
        c.checkpoint(); // and one more now, of the whole state

        Container.Space space = c.space();
        byte[] image = mapImage(c);
        int[] counts = refcounts(c);
        c.close();
        Container again = Container.open(disk);
        try {
            assertEquals(space, again.space(), "the same space after reopen");
            assertArrayEquals(counts, refcounts(again), "every cluster held by as many leaves as before");
            assertArrayEquals(image, mapImage(again), "the maps share the same nodes as before the restart");
            assertEquals(snapshots + 1, again.volumes().size());
            for (int s = 0; s < snapshots; s++) {
                VolumeDevice snap = again.device(snaps[s]);
                for (Map.Entry<Integer, List<Integer>> e : history.entrySet()) {
                    int block = e.getKey();
                    assertArrayEquals(expected(block, e.getValue(), s, written), read(snap, (long) block * BLOCK, BLOCK),
                            "snapshot " + s + " block " + block);
                }
                int cold = random.nextInt(blocks);
                assertArrayEquals(expected(cold, history.getOrDefault(cold, List.of()), s, written), read(snap, (long) cold * BLOCK, BLOCK),
                        "snapshot " + s + " block " + cold);
            }
            // Copy-on-write after the restart as before it: a head write leaves the latest snapshot alone.
            VolumeDevice head = again.device(v.id());
            int block = history.keySet().iterator().next();
            byte[] before = read(again.device(snaps[snapshots - 1]), (long) block * BLOCK, BLOCK);
            assertEquals(IoCompletion.OK, write(head, (long) block * BLOCK, fill(BLOCK, 7), false));
            assertArrayEquals(before, read(again.device(snaps[snapshots - 1]), (long) block * BLOCK, BLOCK));
            assertArrayEquals(fill(BLOCK, 7), read(head, (long) block * BLOCK, BLOCK));
        } finally {
            again.close();
            disk.close();
        }
    }

    private static long seed(int block, int round) {
        return (long) block << 20 | (round + 1);
    }

    /** What block {@code block} holds in the snapshot taken after round {@code snapshot}. */
    private static byte[] expected(int block, List<Integer> rounds, int snapshot, int written) {
        int last = -1;
        for (int r : rounds) {
            if (r <= snapshot) {
                last = r;
            }
        }
        if (last < 0) {
            return block < written ? fill(BLOCK, seed(block, -1)) : new byte[BLOCK];
        }
        return fill(BLOCK, seed(block, last));
    }

    @Test
    void aContainerCheckpointedInTheFlatFormatOfEarlierBuildsOpensWithEverythingAndMovesToTheNewFormat() throws Exception {
        MemoryBlockDevice legacy;
        try (InputStream in = ContainerCheckpointTest.class.getResourceAsStream("checkpoint-v1.bin.gz")) {
            assertNotNull(in, "the fixture");
            legacy = LegacyCheckpointWorkload.load(in);
        }
        MemoryBlockDevice current = new MemoryBlockDevice(LegacyCheckpointWorkload.DEVICE_SIZE, 512);
        LegacyCheckpointWorkload.run(current);
        Container expected = Container.open(current);
        Container old = Container.open(legacy);
        try {
            assertEquals(0, old.checkpointCount());
            assertSameContents(expected, old);
            old.checkpoint(); // now written in the current format
            old.close();
            old = Container.open(legacy);
            assertSameContents(expected, old);
        } finally {
            old.close();
            expected.close();
            legacy.close();
            current.close();
        }
    }

    private static void assertSameContents(Container expected, Container actual) {
        assertEquals(expected.space(), actual.space());
        List<VirtualVolume> want = new ArrayList<>(expected.volumes());
        List<VirtualVolume> got = new ArrayList<>(actual.volumes());
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            VirtualVolume w = want.get(i);
            VirtualVolume g = got.get(i);
            String what = w.toString();
            assertEquals(w.id(), g.id(), what);
            assertEquals(w.name(), g.name(), what);
            assertEquals(w.type(), g.type(), what);
            assertEquals(w.size(), g.size(), what);
            assertEquals(w.blockSize(), g.blockSize(), what);
            assertArrayEquals(w.nguid(), g.nguid(), what);
            assertEquals(w.uuid(), g.uuid(), what);
            assertEquals(w.readOnly(), g.readOnly(), what);
            assertEquals(w.thick(), g.thick(), what);
            assertEquals(w.parentId(), g.parentId(), what);
            assertEquals(expected.metadata(w.id()), actual.metadata(g.id()), what);
            assertEquals(expected.allocatedBytes(w.id()), actual.allocatedBytes(g.id()), what);
            byte[] a = read(expected.device(w.id()), 0, (int) w.size());
            byte[] b = read(actual.device(g.id()), 0, (int) g.size());
            assertTrue(Arrays.equals(a, b), what + " reads the same");
        }
    }

    @Test
    void aStateTooLargeForTheCheckpointAreaRefusesWhatWouldGrowItAndStillTakesDeletesAlsoAfterARestart() {
        MemoryBlockDevice disk = new MemoryBlockDevice(32L << 20, 512);
        // A 16-block log (a checkpoint is due at 12) and an 8 KiB checkpoint area: seven volumes with a 1 KB
        // metadata value each fit it, eight do not.
        Container c = Container.format(disk, UUID.randomUUID(), BLOCK, 16 * BLOCK, 2 * BLOCK);
        String big = "x".repeat(1000);
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            VirtualVolume v = c.createVolume("v" + i, VolumeType.DATA, 1L << 20, 512, id(i), UUID.randomUUID());
            c.setMetadata(v.id(), "note", big);
            ids.add(v.id());
        }
        VolumeDevice d = c.device(ids.getFirst());
        int errno = IoCompletion.OK;
        for (int i = 0; i < 32 && errno == IoCompletion.OK; i++) {
            errno = write(d, (long) i * BLOCK, fill(BLOCK, i), false);
            flush(d);
        }
        assertEquals(IoCompletion.ENOSPC, errno, "a write that needs the log is refused as out of space");
        Container.MetadataFullException refused = assertThrows(Container.MetadataFullException.class,
                () -> c.snapshot(ids.getFirst(), "s", id(99), UUID.randomUUID()));
        assertTrue(refused.getMessage().contains("only deletes are accepted: delete snapshots or volumes to free space"), refused.getMessage());
        assertThrows(Container.MetadataFullException.class, () -> c.setMetadata(ids.getFirst(), "k", "v"));

        // A restart does not wedge it either: it opens, and the delete goes through.
        c.close();
        Container again = Container.open(disk);
        try {
            VolumeDevice d2 = again.device(ids.getFirst());
            assertEquals(IoCompletion.ENOSPC, write(d2, 40L * BLOCK, fill(BLOCK, 40), false));
            again.deleteVolume(ids.getLast());
            assertEquals(IoCompletion.OK, write(d2, 40L * BLOCK, fill(BLOCK, 40), false), "seven volumes fit: the checkpoint is written");
            assertEquals(1, again.checkpointCount());
            VirtualVolume s = again.snapshot(ids.getFirst(), "s", id(99), UUID.randomUUID());
            assertEquals(IoCompletion.OK, flush(d2));
            again.close();
            again = Container.open(disk);
            assertArrayEquals(fill(BLOCK, 40), read(again.device(ids.getFirst()), 40L * BLOCK, BLOCK));
            assertArrayEquals(fill(BLOCK, 40), read(again.device(s.id()), 40L * BLOCK, BLOCK));
            assertEquals(8, again.volumes().size(), "seven volumes and the snapshot");
        } finally {
            again.close();
            disk.close();
        }
    }
}
