package io.vvolgate.gateway.volume;

import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class FsckTest {
    final MemoryBlockDevice disk = new MemoryBlockDevice(64L << 20, 512);

    @AfterEach
    void close() {
        disk.close();
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

    @Test
    void aDeviceWithoutAContainerIsAnError() {
        Fsck.Report r = Fsck.check(disk, false, false);
        assertTrue(r.hasErrors());
        assertTrue(r.findings().toString().contains("no valid superblock"), r.findings().toString());
    }
}
