package io.vvolgate.gateway.volume;

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
import java.util.Random;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Power cuts at chosen instants of a random workload (writes, FUA writes, flushes, deallocates, volume
 * creation, snapshots, snapshot deletion): the device keeps what was flushed plus a random subset of the
 * rest, torn at 4 KiB; the container is recovered from that image, and every write the host was told is
 * durable must read back, every snapshot that was taken must hold exactly its point in time, and nothing
 * may read as data nobody wrote.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(300)
class ContainerPowerCutTest {
    static final int CLUSTER = 64 * 1024;
    static final long DEVICE = 64L << 20;
    static final long VOLUME = 4L << 20;

    /** What the workload believes, per volume: its oracle and its exact current contents. */
    static final class Tracked {
        final long id;
        final boolean acknowledged;
        final DurabilityOracle oracle = new DurabilityOracle(4096);
        final byte[] model = new byte[(int) VOLUME];

        Tracked(long id, boolean acknowledged) {
            this.id = id;
            this.acknowledged = acknowledged;
        }
    }

    record Snap(long id, long of, byte[] contents, boolean acknowledged, boolean deleting) {
    }

    /** Runs the workload until it ends or the power goes; returns what must be checked. */
    static final class Workload {
        final Map<Long, Tracked> volumes = new HashMap<>();
        final List<Snap> snaps = new ArrayList<>();
        final List<Long> pendingVolume = new ArrayList<>();

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
                long expectedId = nextId();
                pendingVolume.add(expectedId);
                VirtualVolume v = c.createVolume("v" + expectedId, VolumeType.DATA, VOLUME, 512, new byte[16], uuid);
                pendingVolume.remove(expectedId);
                volumes.put(v.id(), new Tracked(v.id(), true));
                return true;
            }
            List<Long> ids = new ArrayList<>(volumes.keySet());
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
            if (op < 92) {
                // A snapshot commits the container: everything completed before it is durable.
                DurabilityOracle.Flush f = t.oracle.flushSubmitted();
                long expectedId = nextId();
                snaps.add(new Snap(expectedId, t.id, t.model.clone(), false, false));
                VirtualVolume s = c.snapshot(t.id, "s" + expectedId, new byte[16], UUID.randomUUID());
                f.completed();
                snaps.set(snaps.size() - 1, new Snap(s.id(), t.id, t.model.clone(), true, false));
                return true;
            }
            List<Snap> live = snaps.stream().filter(s -> s.acknowledged && !s.deleting).toList();
            if (!live.isEmpty()) {
                Snap s = live.get(rnd.nextInt(live.size()));
                int at = snaps.indexOf(s);
                snaps.set(at, new Snap(s.id, s.of, s.contents, true, true));
                c.deleteVolume(s.id);
                snaps.remove(at);
            }
            return true;
        }

        private long nextId() {
            long max = 0;
            for (long id : volumes.keySet()) {
                max = Math.max(max, id);
            }
            for (Snap s : snaps) {
                max = Math.max(max, s.id);
            }
            return max + 1;
        }

        /** After recovery: durable writes there, snapshots exact, nothing from nowhere. */
        void verify(Container recovered, String where) {
            for (Tracked t : volumes.values()) {
                VolumeDevice d;
                try {
                    d = recovered.device(t.id);
                } catch (VolumeException e) {
                    fail(where + ": acknowledged volume " + t.id + " is gone");
                    return;
                }
                List<String> bad = t.oracle.check(DurabilityOracle.BlockReader.of(d));
                if (!bad.isEmpty()) {
                    fail(where + ": volume " + t.id + ": " + bad.size() + " bad units, first: " + bad.getFirst());
                }
            }
            for (Snap s : snaps) {
                boolean exists = recovered.volumes().stream().anyMatch(v -> v.id() == s.id);
                if (!exists) {
                    assertTrue(!s.acknowledged || s.deleting, where + ": acknowledged snapshot " + s.id + " is gone");
                    continue;
                }
                byte[] got = VolumeIo.read(recovered.device(s.id), 0, (int) VOLUME);
                assertArrayEquals(s.contents, got, where + ": snapshot " + s.id + " does not hold its point in time");
            }
            for (long id : pendingVolume) {
                if (recovered.volumes().stream().anyMatch(v -> v.id() == id)) {
                    assertArrayEquals(new byte[(int) VOLUME], VolumeIo.read(recovered.device(id), 0, (int) VOLUME),
                            where + ": a volume created at the cut must be empty");
                }
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
    void everythingAcknowledgedAsDurableSurvivesACutAtAnyInstant() {
        long seed = Long.getLong("container.powercut.seed", System.nanoTime());
        int workloads = Integer.getInteger("container.powercut.workloads", 8);
        int cutsPerWorkload = Integer.getInteger("container.powercut.cuts", 40);
        int steps = 70;
        int cuts = 0;
        for (int w = 0; w < workloads; w++) {
            long workloadSeed = seed + w;
            // A dry run counts the device operations the workload makes after formatting.
            PowerCutDevice dry = new PowerCutDevice(DEVICE, 512);
            Container dc = Container.format(dry, UUID.randomUUID(), CLUSTER);
            long formatOps = dry.operations();
            new Workload().run(dc, workloadSeed, steps);
            long total = dry.operations() - formatOps;
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
                Container c = Container.format(disk, UUID.randomUUID(), CLUSTER);
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
                if (!load.volumes.isEmpty()) {
                    long id = load.volumes.keySet().iterator().next();
                    assertEquals(IoCompletion.OK, VolumeIo.write(recovered.device(id), 0, new byte[4096], true), where);
                }
                recovered.close();
                image.close();
                cuts++;
            }
        }
        assertTrue(cuts >= workloads, "ran " + cuts + " cuts");
    }
}
