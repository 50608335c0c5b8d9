package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.testing.DurabilityOracle;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.testing.PowerCutDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Power cuts at chosen instants of a random workload (writes, FUA writes, flushes, deallocates, volume
 * creation and deletion, snapshots and their deletion, linked and full clones, resize, revert): the device
 * keeps what was flushed plus a random subset of the rest, torn at 4 KiB; the container is recovered from
 * that image, and every write the host was told is durable must read back, every snapshot that was taken
 * must hold exactly its point in time, every operation must have happened completely or not at all, and
 * nothing may read as data nobody wrote. The workload is also cut twice in a row (recovered, continued, cut
 * again); each management operation is also cut at every one of its device operations; and three tests
 * build, step by step, the situations that used to lose data (a log block left behind a hole and replayed
 * after a second cut; a cluster written in place while the durable metadata still gave it to another map).
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(300)
class ContainerPowerCutTest {
    static final int CLUSTER = 64 * 1024;
    static final long DEVICE = 64L << 20;
    static final long VOLUME = 4L << 20;

    /** What the workload believes, per volume (head or clone): its oracle, its exact contents, its size. */
    static final class Tracked {
        final long id;
        final DurabilityOracle oracle = new DurabilityOracle(4096);
        /** The first {@link #VOLUME} bytes (writes stay there; a grown part is never written). */
        byte[] model = new byte[(int) VOLUME];
        long size = VOLUME;
        /** A resize in flight at the cut: the size it asked for; 0 if none. */
        long pendingSize;
        /** A revert in flight at the cut: the contents it would give; null if none. */
        byte[] pendingRevert;
        /** A delete in flight at the cut. */
        boolean deleting;

        Tracked(long id) {
            this.id = id;
        }

        /** A clone or a reverted volume: every unit now durably holds {@code contents}. */
        void becomes(byte[] contents) {
            model = contents.clone();
            oracle.acknowledged(0, contents, true);
        }
    }

    record Snap(long id, long of, byte[] contents, boolean acknowledged, boolean deleting, long size) {
    }

    /** A clone being made at the cut: if it exists after recovery it holds exactly its snapshot's contents. */
    record PendingClone(long id, byte[] contents) {
    }

    /**
     * Runs a random workload until it ends or the power goes: writes, FUA writes, flushes, deallocates, and
     * the management operations (volume creation and deletion, snapshot and its deletion, linked and full
     * clones, resize, revert), remembering what must be checked after recovery.
     */
    static final class Workload {
        final Map<Long, Tracked> volumes = new HashMap<>();
        final List<Snap> snaps = new ArrayList<>();
        final List<Long> pendingVolume = new ArrayList<>();
        final List<PendingClone> pendingClones = new ArrayList<>();
        final List<Long> deletedVolumes = new ArrayList<>();
        long lastId;

        void run(Container c, long seed, int steps) {
            Random rnd = new Random(seed);
            try {
                for (int step = 0; step < steps; step++) {
                    if (!step(c, rnd)) {
                        return;
                    }
                }
            } catch (VolumeException e) {
                // the power went during a management operation: its outcome is either
            }
        }

        private boolean step(Container c, Random rnd) {
            int op = rnd.nextInt(100);
            if (volumes.isEmpty() || op < 6) {
                UUID uuid = new UUID(rnd.nextLong(), rnd.nextLong());
                long expectedId = lastId + 1;
                pendingVolume.add(expectedId);
                VirtualVolume v = c.createVolume("v" + expectedId, VolumeType.DATA, VOLUME, 512, new byte[16], uuid);
                pendingVolume.remove(expectedId);
                lastId = v.id();
                volumes.put(v.id(), new Tracked(v.id()));
                return true;
            }
            List<Long> ids = new ArrayList<>(volumes.keySet());
            ids.sort(null);
            Tracked t = volumes.get(ids.get(rnd.nextInt(ids.size())));
            VolumeDevice d = c.device(t.id);
            if (op < 60) {
                // 4 KiB units (the oracle's granularity): mostly parts of a 64 KiB cluster, sometimes several.
                int length = 4096 * (1 + rnd.nextInt(rnd.nextBoolean() ? 4 : 40));
                long offset = 4096L * rnd.nextInt((int) ((VOLUME - length) / 4096));
                byte[] data = VolumeIo.pattern(length, rnd.nextLong());
                boolean fua = rnd.nextInt(5) == 0;
                DurabilityOracle.Write w = t.oracle.submitted(offset, data);
                int errno = VolumeIo.write(d, offset, data, fua);
                if (errno != IoCompletion.OK) {
                    w.failed();
                    return false;
                }
                w.completed(fua);
                System.arraycopy(data, 0, t.model, (int) offset, length);
                return true;
            }
            if (op < 72) {
                DurabilityOracle.Flush f = t.oracle.flushSubmitted();
                if (VolumeIo.flush(d) != IoCompletion.OK) {
                    f.failed();
                    return false;
                }
                f.completed();
                return true;
            }
            if (op < 80) {
                long length = 4096L * (1 + rnd.nextInt(40));
                long offset = 4096L * rnd.nextInt((int) ((VOLUME - length) / 4096));
                DurabilityOracle.Write w = t.oracle.submittedZeroes(offset, length);
                if (VolumeIo.deallocate(d, offset, length) != IoCompletion.OK) {
                    w.failed();
                    return false;
                }
                w.completed(false);
                Arrays.fill(t.model, (int) offset, (int) (offset + length), (byte) 0);
                return true;
            }
            if (op < 88) {
                // A snapshot commits the container: everything completed before it is durable.
                DurabilityOracle.Flush f = t.oracle.flushSubmitted();
                long expectedId = lastId + 1;
                snaps.add(new Snap(expectedId, t.id, t.model.clone(), false, false, t.size));
                VirtualVolume s = c.snapshot(t.id, "s" + expectedId, new byte[16], UUID.randomUUID());
                lastId = s.id();
                f.completed();
                snaps.set(snaps.size() - 1, new Snap(s.id(), t.id, t.model.clone(), true, false, t.size));
                return true;
            }
            List<Snap> live = snaps.stream().filter(s -> s.acknowledged && !s.deleting).toList();
            switch (rnd.nextInt(6)) {
                case 0 -> {
                    if (!live.isEmpty()) {
                        Snap s = live.get(rnd.nextInt(live.size()));
                        int at = snaps.indexOf(s);
                        snaps.set(at, new Snap(s.id, s.of, s.contents, true, true, s.size));
                        c.deleteVolume(s.id);
                        snaps.remove(at);
                    }
                }
                case 1, 2 -> {
                    if (!live.isEmpty()) {
                        Snap s = live.get(rnd.nextInt(live.size()));
                        boolean full = rnd.nextBoolean();
                        long expectedId = lastId + 1;
                        PendingClone pending = new PendingClone(expectedId, s.contents.clone());
                        pendingClones.add(pending);
                        VirtualVolume k = full ? c.cloneFull(s.id, "f" + expectedId, new byte[16], UUID.randomUUID())
                                : c.cloneLinked(s.id, "k" + expectedId, new byte[16], UUID.randomUUID());
                        pendingClones.remove(pending);
                        lastId = k.id();
                        Tracked clone = new Tracked(k.id());
                        clone.size = s.size;
                        clone.becomes(s.contents);
                        volumes.put(k.id(), clone);
                        if (full) {
                            awaitCopy(c, k.id()); // one thing at a time, so a seed replays the same operations
                        }
                    }
                }
                case 3 -> {
                    if (t.size == VOLUME) {
                        t.pendingSize = 2 * VOLUME;
                        c.resizeVolume(t.id, 2 * VOLUME);
                        t.size = 2 * VOLUME;
                        t.pendingSize = 0;
                    }
                }
                case 4 -> {
                    List<Snap> own = live.stream().filter(s -> s.of == t.id && s.size == t.size).toList();
                    if (!own.isEmpty()) {
                        Snap s = own.get(rnd.nextInt(own.size()));
                        t.pendingRevert = s.contents;
                        c.revert(t.id, s.id);
                        t.becomes(s.contents);
                        t.pendingRevert = null;
                    }
                }
                default -> {
                    if (volumes.size() > 1) {
                        t.deleting = true;
                        c.deleteVolume(t.id);
                        volumes.remove(t.id);
                        deletedVolumes.add(t.id);
                    }
                }
            }
            return true;
        }

        /** After recovery: durable writes there, every operation whole or absent, nothing from nowhere. */
        void verify(Container recovered, String where) {
            for (Tracked t : volumes.values()) {
                if (!exists(recovered, t.id)) {
                    assertTrue(t.deleting, where + ": acknowledged volume " + t.id + " is gone");
                    continue;
                }
                long size = recovered.volume(t.id).size();
                assertTrue(size == t.size || size == t.pendingSize, where + ": volume " + t.id + " has size " + size);
                VolumeDevice d = recovered.device(t.id);
                if (t.pendingRevert != null && Arrays.equals(t.pendingRevert, VolumeIo.read(d, 0, (int) VOLUME))) {
                    continue; // the revert happened
                }
                List<String> bad = t.oracle.check(DurabilityOracle.BlockReader.of(d));
                if (!bad.isEmpty()) {
                    fail(where + ": volume " + t.id + ": " + bad.size() + " bad units, first: " + bad.getFirst());
                }
            }
            for (long id : deletedVolumes) {
                assertTrue(!exists(recovered, id), where + ": deleted volume " + id + " is back");
            }
            for (Snap s : snaps) {
                if (!exists(recovered, s.id)) {
                    assertTrue(!s.acknowledged || s.deleting, where + ": acknowledged snapshot " + s.id + " is gone");
                    continue;
                }
                byte[] got = VolumeIo.read(recovered.device(s.id), 0, (int) VOLUME);
                assertArrayEquals(s.contents, got, where + ": snapshot " + s.id + " does not hold its point in time");
            }
            for (long id : pendingVolume) {
                if (exists(recovered, id)) {
                    assertArrayEquals(new byte[(int) VOLUME], VolumeIo.read(recovered.device(id), 0, (int) VOLUME),
                            where + ": a volume created at the cut must be empty");
                }
            }
            for (PendingClone k : pendingClones) {
                if (exists(recovered, k.id)) {
                    assertArrayEquals(k.contents, VolumeIo.read(recovered.device(k.id), 0, (int) VOLUME),
                            where + ": a clone made at the cut must hold its snapshot's contents");
                }
            }
        }

        /**
         * After {@link #verify}: takes what the recovered container holds as the new durable truth, so the
         * workload can go on on it (and be cut again).
         */
        void rebase(Container recovered) {
            for (long id : pendingVolume) {
                if (exists(recovered, id)) {
                    volumes.put(id, new Tracked(id));
                }
            }
            for (PendingClone k : pendingClones) {
                if (exists(recovered, k.id)) {
                    Tracked clone = new Tracked(k.id);
                    clone.becomes(k.contents);
                    volumes.put(k.id, clone);
                }
            }
            pendingVolume.clear();
            pendingClones.clear();
            for (Tracked t : new ArrayList<>(volumes.values())) {
                if (!exists(recovered, t.id)) {
                    volumes.remove(t.id);
                    deletedVolumes.add(t.id);
                    continue;
                }
                VolumeDevice d = recovered.device(t.id);
                t.oracle.rebase(DurabilityOracle.BlockReader.of(d));
                t.model = VolumeIo.read(d, 0, (int) VOLUME);
                t.size = recovered.volume(t.id).size();
                t.pendingSize = 0;
                t.pendingRevert = null;
                t.deleting = false;
            }
            snaps.removeIf(s -> !exists(recovered, s.id));
            snaps.replaceAll(s -> new Snap(s.id, s.of, s.contents, true, false, recovered.volume(s.id).size()));
            for (VirtualVolume v : recovered.volumes()) {
                lastId = Math.max(lastId, v.id());
            }
        }
    }

    @Test
    void aDeallocatedClusterIsNotReusedBeforeTheDeallocateIsDurable() {
        PowerCutDevice disk = new PowerCutDevice(DEVICE, 512);
        Container c = Container.format(disk, UUID.randomUUID(), CLUSTER);
        VirtualVolume v = c.createVolume("v", VolumeType.DATA, VOLUME, 512, new byte[16], UUID.randomUUID());
        VolumeDevice d = c.device(v.id());
        byte[] a = VolumeIo.pattern(CLUSTER, 1);
        assertEquals(IoCompletion.OK, VolumeIo.write(d, 0, a, false));
        assertEquals(IoCompletion.OK, VolumeIo.flush(d));                // A is durable at cluster 0
        assertEquals(IoCompletion.OK, VolumeIo.deallocate(d, 0, CLUSTER)); // not durable yet
        for (int i = 1; i < 8; i++) {
            assertEquals(IoCompletion.OK, VolumeIo.write(d, (long) i * CLUSTER, VolumeIo.pattern(CLUSTER, 100 + i), false));
        }
        PowerCutDevice image = disk.cutKeepingAll(); // a process crash: every write reached the medium
        c.close();
        Container recovered = Container.open(image);
        byte[] got = VolumeIo.read(recovered.device(v.id()), 0, CLUSTER);
        assertTrue(Arrays.equals(a, got) || Arrays.equals(new byte[CLUSTER], got),
                "cluster 0 holds its durable data or zeroes, not another cluster's");
        recovered.close();
        image.close();
    }

    @Test
    void aClusterAnotherMapStillHoldsOnDiskIsNotWrittenInPlace() {
        PowerCutDevice disk = new PowerCutDevice(DEVICE, 512);
        Container c = Container.format(disk, UUID.randomUUID(), CLUSTER);
        VirtualVolume head = c.createVolume("head", VolumeType.DATA, VOLUME, 512, new byte[16], UUID.randomUUID());
        VolumeDevice h = c.device(head.id());
        byte[] a = VolumeIo.pattern(CLUSTER, 1);
        assertEquals(IoCompletion.OK, VolumeIo.write(h, 0, a, true));
        VirtualVolume snap = c.snapshot(head.id(), "s", new byte[16], UUID.randomUUID());
        VirtualVolume clone = c.cloneLinked(snap.id(), "k", new byte[16], UUID.randomUUID());
        VolumeDevice k = c.device(clone.id());
        // Each writes elsewhere, so each holds cluster 0's data in a map of its own; then the snapshot goes.
        assertEquals(IoCompletion.OK, VolumeIo.write(h, CLUSTER, VolumeIo.pattern(CLUSTER, 2), true));
        assertEquals(IoCompletion.OK, VolumeIo.write(k, CLUSTER, VolumeIo.pattern(CLUSTER, 3), true));
        c.deleteVolume(snap.id());

        byte[] headsNew = VolumeIo.pattern(CLUSTER, 4);
        byte[] clones = VolumeIo.pattern(CLUSTER, 5);
        assertEquals(IoCompletion.OK, VolumeIo.write(h, 0, headsNew, false)); // copy-on-write; its map change not durable
        assertEquals(IoCompletion.OK, VolumeIo.write(k, 0, clones, false));   // the durable state still shares the old cluster
        PowerCutDevice image = disk.cutKeepingAll(); // a process crash: every write reached the medium, no commit did
        c.close();

        Container recovered = Container.open(image);
        byte[] got = VolumeIo.read(recovered.device(head.id()), 0, CLUSTER);
        assertTrue(Arrays.equals(a, got) || Arrays.equals(headsNew, got),
                "the head reads its durable data or its own last write, not the clone's write");
        byte[] clonesGot = VolumeIo.read(recovered.device(clone.id()), 0, CLUSTER);
        assertTrue(Arrays.equals(a, clonesGot) || Arrays.equals(clones, clonesGot), "the clone reads its own data");
        recovered.close();
        image.close();
    }

    @Test
    void aLogBlockLeftBehindAHoleIsNotReplayedAfterASecondCrash() {
        PowerCutDevice disk = new PowerCutDevice(DEVICE, 512);
        Container first = Container.format(disk, UUID.randomUUID(), CLUSTER);
        long logOffset = Container.readSuperblock(disk).logOffset();
        VirtualVolume v = first.createVolume("v", VolumeType.DATA, 8 * VOLUME, 512, new byte[16], UUID.randomUUID()); // block 1
        long id = v.id();
        first.close();

        // Second open: 200 first writes give one commit of two log blocks (blocks 2 and 3).
        Container second = Container.open(disk);
        VolumeDevice d = second.device(id);
        for (int i = 0; i < 200; i++) {
            assertEquals(IoCompletion.OK, VolumeIo.write(d, (long) i * CLUSTER, VolumeIo.pattern(4096, i), false));
        }
        assertEquals(IoCompletion.OK, VolumeIo.flush(d));
        PowerCutDevice image = disk.cutKeepingAll();
        second.close();
        disk.close();
        // As if the cut had come before the flush and the drive had destaged block 3 but not block 2.
        ByteBuf blank = Unpooled.buffer(MetadataLog.BLOCK_SIZE).writeZero(MetadataLog.BLOCK_SIZE);
        image.write(logOffset + MetadataLog.BLOCK_SIZE, MetadataLog.BLOCK_SIZE, blank, true, null,
                (a, errno) -> assertEquals(IoCompletion.OK, errno));

        // Third open: replay stops at the hole; one write fills it with a new block 2; then a second crash.
        Container third = Container.open(image);
        assertEquals(0, third.allocatedBytes(id), "the writes whose log block was lost are gone");
        byte[] refill = VolumeIo.pattern(4096, 999);
        assertEquals(IoCompletion.OK, VolumeIo.write(third.device(id), 0, refill, true));
        PowerCutDevice again = image.cutKeepingAll();
        third.close();
        image.close();

        Container fourth = Container.open(again);
        assertEquals(CLUSTER, fourth.allocatedBytes(id), "only the refill is mapped: old block 3 was never acknowledged");
        assertArrayEquals(refill, VolumeIo.read(fourth.device(id), 0, 4096));
        assertArrayEquals(new byte[4096], VolumeIo.read(fourth.device(id), 150L * CLUSTER, 4096));
        fourth.close();
        again.close();
    }

    // --- management operations cut at every instant ---

    /** What {@link #setUp} leaves: a head and a snapshot of it, both durable, their contents known. */
    record Before(long head, long snapshot, byte[] headContents, byte[] snapshotContents) {
    }

    /** A head with data over a dozen clusters, a snapshot of it, then the head partly overwritten: all durable. */
    static Before setUp(Container c) {
        VirtualVolume head = c.createVolume("head", VolumeType.DATA, VOLUME, 512, new byte[16], UUID.randomUUID());
        VolumeDevice d = c.device(head.id());
        byte[] contents = new byte[(int) VOLUME];
        byte[] first = VolumeIo.pattern(12 * CLUSTER + 8192, 7);
        assertEquals(IoCompletion.OK, VolumeIo.write(d, 4096, first, true));
        System.arraycopy(first, 0, contents, 4096, first.length);
        VirtualVolume snap = c.snapshot(head.id(), "snap", new byte[16], UUID.randomUUID());
        byte[] snapshotContents = contents.clone();
        byte[] second = VolumeIo.pattern(3 * CLUSTER, 8);
        assertEquals(IoCompletion.OK, VolumeIo.write(d, 5L * CLUSTER, second, true));
        System.arraycopy(second, 0, contents, 5 * CLUSTER, second.length);
        return new Before(head.id(), snap.id(), contents, snapshotContents);
    }

    /** One management operation: run it on a container set up by {@link #setUp}. */
    @FunctionalInterface
    interface Operation {
        void run(Container c, Before before);
    }

    /** After recovery: the operation happened completely or not at all (fails otherwise). */
    @FunctionalInterface
    interface Outcome {
        void check(Container recovered, Before before, String where);
    }

    static boolean exists(Container c, long id) {
        return c.volumes().stream().anyMatch(v -> v.id() == id);
    }

    static Optional<VirtualVolume> newest(Container c) {
        return c.volumes().stream().max(java.util.Comparator.comparingLong(VirtualVolume::id));
    }

    /**
     * Cuts the power at every device operation of {@code op} (once letting it complete, once leaving it in
     * flight), recovers, and checks that the head and snapshot still hold their durable contents and that
     * {@code outcome} holds.
     */
    static int cutAtEveryInstant(String name, Operation op, Outcome outcome) {
        PowerCutDevice dry = new PowerCutDevice(DEVICE, 512);
        Container dc = Container.format(dry, UUID.randomUUID(), CLUSTER);
        Before dryBefore = setUp(dc);
        long base = dry.operations();
        op.run(dc, dryBefore);
        long total = dry.operations() - base;
        dc.close();
        dry.close();
        int cases = 0;
        for (long k = 1; k <= total + 1; k++) {
            for (boolean during : new boolean[] {true, false}) {
                String where = name + ": cut " + (during ? "during" : "after") + " operation " + k + " of " + total;
                PowerCutDevice disk = new PowerCutDevice(DEVICE, 512);
                Container c = Container.format(disk, UUID.randomUUID(), CLUSTER);
                Before before = setUp(c);
                if (during) {
                    disk.cutDuringOperation(k);
                } else {
                    disk.cutAfterOperations(k);
                }
                try {
                    op.run(c, before);
                } catch (VolumeException e) {
                    // the power went during it: it happened completely or not at all
                }
                PowerCutDevice image = disk.cut(new Random(k * 2 + (during ? 1 : 0)));
                c.close();
                Container recovered;
                try {
                    recovered = Container.open(image);
                } catch (RuntimeException e) {
                    throw new AssertionError(where + ": recovery failed: " + e.getMessage(), e);
                }
                try {
                    assertTrue(exists(recovered, before.snapshot()), where + ": the snapshot is gone");
                    assertArrayEquals(before.snapshotContents(), VolumeIo.read(recovered.device(before.snapshot()), 0, (int) VOLUME),
                            where + ": the snapshot lost its point in time");
                    outcome.check(recovered, before, where);
                } finally {
                    recovered.close();
                    image.close();
                }
                cases++;
            }
        }
        return cases;
    }

    static void awaitCopy(Container c, long id) {
        try {
            c.copyDone(id).get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            // the power went during the copy: it resumes when the container opens
        } catch (InterruptedException | TimeoutException e) {
            throw new AssertionError("the full clone's copy did not end", e);
        }
    }

    static void headUnchanged(Container recovered, Before before, String where) {
        assertArrayEquals(before.headContents(), VolumeIo.read(recovered.device(before.head()), 0, (int) VOLUME),
                where + ": the head lost durable data");
    }

    @Test
    void aLinkedCloneHappensCompletelyOrNotAtAll() {
        int cases = cutAtEveryInstant("linked clone", (c, b) -> c.cloneLinked(b.snapshot(), "k", new byte[16], UUID.randomUUID()),
                (r, b, where) -> {
                    headUnchanged(r, b, where);
                    VirtualVolume v = newest(r).orElseThrow();
                    if (v.id() > b.snapshot()) {
                        assertEquals(b.snapshot(), v.parentId(), where);
                        assertArrayEquals(b.snapshotContents(), VolumeIo.read(r.device(v.id()), 0, (int) VOLUME),
                                where + ": the clone does not hold its snapshot's contents");
                    }
                });
        assertTrue(cases > 2);
    }

    @Test
    void aFullCloneHappensCompletelyOrNotAtAll() {
        int cases = cutAtEveryInstant("full clone", (c, b) -> {
            VirtualVolume clone = c.cloneFull(b.snapshot(), "f", new byte[16], UUID.randomUUID());
            awaitCopy(c, clone.id());
        }, (r, b, where) -> {
            headUnchanged(r, b, where);
            VirtualVolume v = newest(r).orElseThrow();
            if (v.id() > b.snapshot()) {
                assertArrayEquals(b.snapshotContents(), VolumeIo.read(r.device(v.id()), 0, (int) VOLUME),
                        where + ": the clone does not hold its snapshot's contents");
                awaitCopy(r, v.id());
                long[] shared = {0};
                synchronized (r) {
                    r.volume(v.id()).map.forEachMapped((lc, pc) -> {
                        if (r.refs().get(pc) != 1) {
                            shared[0]++;
                        }
                        return 0;
                    });
                }
                assertEquals(0, shared[0], where + ": a full clone still shares clusters once its copy is done (it came back linked)");
                assertArrayEquals(b.snapshotContents(), VolumeIo.read(r.device(v.id()), 0, (int) VOLUME), where + ": after the copy");
            }
        });
        assertTrue(cases > 2);
    }

    @Test
    void aResizeHappensCompletelyOrNotAtAll() {
        int cases = cutAtEveryInstant("resize", (c, b) -> c.resizeVolume(b.head(), 2 * VOLUME), (r, b, where) -> {
            long size = r.volume(b.head()).size();
            assertTrue(size == VOLUME || size == 2 * VOLUME, where + ": size " + size);
            headUnchanged(r, b, where);
            if (size == 2 * VOLUME) {
                assertArrayEquals(new byte[(int) VOLUME], VolumeIo.read(r.device(b.head()), VOLUME, (int) VOLUME),
                        where + ": the grown part reads as zeroes");
            }
        });
        assertTrue(cases > 2);
    }

    @Test
    void aRevertHappensCompletelyOrNotAtAll() {
        int cases = cutAtEveryInstant("revert", (c, b) -> c.revert(b.head(), b.snapshot()), (r, b, where) -> {
            byte[] got = VolumeIo.read(r.device(b.head()), 0, (int) VOLUME);
            assertTrue(Arrays.equals(b.headContents(), got) || Arrays.equals(b.snapshotContents(), got),
                    where + ": the head holds neither its contents nor its snapshot's");
        });
        assertTrue(cases > 2);
    }

    @Test
    void aVolumeDeleteHappensCompletelyOrNotAtAll() {
        int cases = cutAtEveryInstant("delete", (c, b) -> c.deleteVolume(b.head()), (r, b, where) -> {
            long snapshotClusters = r.volume(b.snapshot()).map.mappedClusters();
            if (exists(r, b.head())) {
                headUnchanged(r, b, where);
                assertEquals((snapshotClusters + 3) * CLUSTER, r.space().used(), where + ": the head's own three clusters");
            } else {
                assertEquals(snapshotClusters * CLUSTER, r.space().used(), where + ": the deleted head's own clusters are free again");
            }
        });
        assertTrue(cases > 2);
    }

    @Test
    void everythingAcknowledgedSurvivesTwoCutsInARow() {
        long seed = Long.getLong("container.powercut.seed", System.nanoTime());
        int workloads = Integer.getInteger("container.powercut.workloads", 8);
        int steps = 70;
        for (int w = 0; w < workloads; w++) {
            long workloadSeed = seed + w;
            Random pick = new Random(workloadSeed);
            String where = "two cuts, seed " + workloadSeed + " (rerun with -Dcontainer.powercut.seed=" + workloadSeed
                    + " -Dcontainer.powercut.workloads=1)";
            PowerCutDevice disk = new PowerCutDevice(DEVICE, 512);
            Container c = Container.format(disk, UUID.randomUUID(), CLUSTER);
            disk.cutDuringOperation(1 + pick.nextInt(300));
            Workload load = new Workload();
            load.run(c, workloadSeed, steps);
            PowerCutDevice image = disk.cut(new Random(workloadSeed * 31));
            c.close();
            disk.close();
            Container recovered = Container.open(image);
            load.verify(recovered, where + ", first cut");
            load.rebase(recovered);

            image.cutDuringOperation(1 + pick.nextInt(300));
            load.run(recovered, workloadSeed * 7 + 1, steps);
            PowerCutDevice again = image.cut(new Random(workloadSeed * 37));
            recovered.close();
            image.close();
            Container twice = Container.open(again);
            load.verify(twice, where + ", second cut");
            twice.close();
            again.close();
        }
    }

    @Test
    void everythingAcknowledgedAsDurableSurvivesACutAtAnyInstant() {
        cutRandomly(0);
    }

    /** With a log of 8 blocks, checkpoints (and the log head moving) fall inside the cut window too. */
    @Test
    void everythingAcknowledgedSurvivesACutWithCheckpointsInTheWindow() {
        cutRandomly(8 * MetadataLog.BLOCK_SIZE);
    }

    /** Formats a container for the workload: the default layout, or (logLength above 0) one with that log. */
    static Container format(PowerCutDevice disk, long logLength) {
        return logLength == 0 ? Container.format(disk, UUID.randomUUID(), CLUSTER)
                : Container.format(disk, UUID.randomUUID(), CLUSTER, logLength, 1 << 20);
    }

    static void cutRandomly(long logLength) {
        long checkpoints = 0;
        long seed = Long.getLong("container.powercut.seed", System.nanoTime());
        int workloads = Integer.getInteger("container.powercut.workloads", 8);
        int cutsPerWorkload = Integer.getInteger("container.powercut.cuts", 40);
        int steps = 70;
        int cuts = 0;
        for (int w = 0; w < workloads; w++) {
            long workloadSeed = seed + w;
            // A dry run counts the device operations the workload makes after formatting.
            PowerCutDevice dry = new PowerCutDevice(DEVICE, 512);
            Container dc = format(dry, logLength);
            long formatOps = dry.operations();
            new Workload().run(dc, workloadSeed, steps);
            long total = dry.operations() - formatOps;
            checkpoints += dc.checkpointCount();
            dc.close();
            dry.close();
            Random pick = new Random(workloadSeed);
            for (int k = 0; k < cutsPerWorkload; k++) {
                long cutAt = k == 0 ? 0 : k == 1 ? total : (long) (pick.nextDouble() * total);
                boolean during = pick.nextBoolean();
                String where = "power-cut seed " + workloadSeed + " cut " + (during ? "during" : "after") + " op " + cutAt
                        + " of " + total + " (rerun with -Dcontainer.powercut.seed=" + workloadSeed
                        + " -Dcontainer.powercut.workloads=1)";
                PowerCutDevice disk = new PowerCutDevice(DEVICE, 512);
                Container c = format(disk, logLength);
                long base = disk.operations();
                if (during) {
                    disk.cutDuringOperation(base + cutAt);
                } else {
                    disk.cutAfterOperations(cutAt);
                }
                Workload load = new Workload();
                load.run(c, workloadSeed, steps);
                PowerCutDevice image = disk.cut(new Random(workloadSeed * 31 + k));
                c.close(); // the dead container lets go of what it never committed
                Container recovered;
                try {
                    recovered = Container.open(image);
                } catch (RuntimeException e) {
                    throw new AssertionError(where + ": recovery failed: " + e.getMessage(), e);
                }
                load.verify(recovered, where);
                // The recovered container works: a write and a flush, then a clean reopen.
                Optional<Long> some = load.volumes.keySet().stream().filter(id -> exists(recovered, id)).findFirst();
                if (some.isPresent()) {
                    assertEquals(IoCompletion.OK, VolumeIo.write(recovered.device(some.get()), 0, new byte[4096], true), where);
                }
                recovered.close();
                image.close();
                cuts++;
            }
        }
        assertTrue(cuts >= workloads, "ran " + cuts + " cuts");
        assertTrue(logLength == 0 || checkpoints >= workloads, "only " + checkpoints + " checkpoints in " + workloads + " workloads");
    }
}
