package io.vvolgate.gateway.fabrics;

import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.DurabilityOracle;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.testing.PowerCutDevice;
import io.vvolgate.gateway.volume.Container;
import io.vvolgate.gateway.volume.VirtualVolume;
import io.vvolgate.gateway.volume.VolumeType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With the volatile write cache turned off (Set Features, Volatile Write Cache, WCE = 0) a host may take
 * every completed write as durable without ever sending Flush; the target keeps that promise by making
 * each Write and Write Zeroes FUA in {@link QueuePair}. Here a host does just that against a container
 * volume on a {@link PowerCutDevice}, the power goes at a chosen instant, the container is recovered from
 * what the device kept (flushed data plus a random part of the rest), and every write that completed must
 * read back.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(120)
class WriteCacheOffDurabilityTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:vwc";
    static final long VOLUME = 4L << 20;
    static final Port PORT = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);

    /** A target exporting one container volume, with a connected admin and I/O queue. */
    static final class Rig implements AutoCloseable {
        final PowerCutDevice disk = new PowerCutDevice(64L << 20, 512);
        final Container container = Container.format(disk, UUID.randomUUID(), 64 * 1024);
        final VirtualVolume volume = container.createVolume("v", VolumeType.DATA, VOLUME, 512, new byte[16], UUID.randomUUID());
        final Target target = new Target(1);
        final TestQueue admin;
        final TestQueue io;

        Rig(boolean writeCache) {
            Subsystem s = target.addSubsystem(NQN, "S", "m", true, List.of());
            target.addNamespace(s, 1, container.device(volume.id()), 512, new byte[16], UUID.randomUUID(), 1);
            admin = new TestQueue(target, PORT);
            int cntlid = admin.connect(NQN, 0, 31, 0xFFFF, 0).result0();
            admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20));
            NvmeRequest r = admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10,
                    Features.VOLATILE_WRITE_CACHE), 11, writeCache ? 1 : 0));
            assertEquals(Status.SUCCESS, r.status());
            io = new TestQueue(target, PORT);
            assertEquals(Status.SUCCESS, io.connect(NQN, 1, 127, cntlid, 0).status());
        }

        int write(long offset, byte[] data) {
            return io.execute(io.withWriteData(TargetTest.rw(io, Opcodes.IO_WRITE, offset / 512, data.length / 512), data)).status();
        }

        int writeZeroes(long offset, long length) {
            return io.execute(TargetTest.rw(io, Opcodes.IO_WRITE_ZEROES, offset / 512, (int) (length / 512))).status();
        }

        /** The container as recovered from what the device keeps after the cut. */
        Container recover(PowerCutDevice image) {
            return Container.open(image);
        }

        @Override
        public void close() {
            target.close();
            container.close(); // its last commit fails once the power is gone: nothing more becomes durable
            disk.close();
        }
    }

    static Stream<Arguments> cuts() {
        List<Arguments> cases = new ArrayList<>();
        for (int cutAfter : new int[] {2, 5, 9, 16, 30, 55, 90, 140}) {
            for (long seed = 1; seed <= 2; seed++) {
                cases.add(Arguments.of(cutAfter, seed));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "cut after {0} device operations, seed {1} (2: during the last)")
    @MethodSource("cuts")
    void everyCompletedWriteSurvivesAPowerCutWhenTheWriteCacheIsOff(int cutAfter, long seed) {
        DurabilityOracle oracle = new DurabilityOracle(4096);
        Random rnd = new Random(cutAfter * 1_000L + seed);
        PowerCutDevice image;
        int completed = 0;
        try (Rig rig = new Rig(false)) {
            if (seed == 1) {
                rig.disk.cutAfterOperations(cutAfter);
            } else {
                rig.disk.cutDuringOperation(cutAfter); // that operation reaches the cache, then fails
            }
            for (int i = 0; i < 400; i++) {
                // 4 KiB units (the oracle's), within one cluster or across several; no Flush, ever.
                int length = 4096 * (1 + rnd.nextInt(rnd.nextBoolean() ? 4 : 24));
                long offset = 4096L * rnd.nextInt((int) ((VOLUME - length) / 4096));
                int status;
                DurabilityOracle.Write w;
                if (rnd.nextInt(5) == 0) {
                    w = oracle.submittedZeroes(offset, length);
                    status = rig.writeZeroes(offset, length);
                } else {
                    byte[] data = new byte[length];
                    rnd.nextBytes(data);
                    w = oracle.submitted(offset, data);
                    status = rig.write(offset, data);
                }
                if (status != Status.SUCCESS) {
                    w.failed();
                    break;
                }
                w.completed(true); // the cache is off: completed means durable
                completed++;
            }
            assertFalse(rig.disk.isPoweredOn(), "the power went during the writes");
            image = rig.disk.cut(rnd);
        }
        assertTrue(completed > 0 || cutAfter < 10, "some writes completed before the cut");
        Container recovered = Container.open(image);
        try {
            VirtualVolume v = recovered.volumes().iterator().next();
            oracle.verify(DurabilityOracle.BlockReader.of(recovered.device(v.id())));
        } finally {
            recovered.close();
            image.close();
        }
    }

    /** The contrast that shows the test can fail: with the cache on, a completed write is not yet durable. */
    @Test
    void withTheWriteCacheOnACompletedWriteIsNotYetDurable() {
        byte[] data = TargetTest.pattern(64 * 1024, 7);
        PowerCutDevice image;
        try (Rig rig = new Rig(true)) {
            assertEquals(Status.SUCCESS, rig.write(0, data));
            image = rig.disk.cutLosingAll();
        }
        Container recovered = Container.open(image);
        try {
            VirtualVolume v = recovered.volumes().iterator().next();
            byte[] got = DurabilityOracle.BlockReader.of(recovered.device(v.id())).read(0, data.length);
            assertArrayEquals(new byte[data.length], got, "without FUA or Flush the write was still in the cache");
        } finally {
            recovered.close();
            image.close();
        }
    }
}
