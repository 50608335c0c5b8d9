package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.UUID;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static io.vvolgate.gateway.volume.VolumeIo.deallocate;
import static io.vvolgate.gateway.volume.VolumeIo.flush;
import static io.vvolgate.gateway.volume.VolumeIo.write;

/**
 * The workload behind the checked-in fixture {@code checkpoint-v1.bin.gz}: a small container whose active
 * checkpoint is in the version 1 (flat) format, with log records after it. The fixture was made by running
 * {@link #run} on a fresh {@link #DEVICE_SIZE} memory device with the build at commit 0486731 (the last one
 * that wrote flat checkpoints) and saving it with {@link #save}. The test runs the same workload with the
 * current build to know what every volume must read.
 */
final class LegacyCheckpointWorkload {
    static final long DEVICE_SIZE = 16L << 20;
    static final int CLUSTER = 4096;
    static final UUID CONTAINER = new UUID(0x5eed_0001L, 0x0486_731L);

    private LegacyCheckpointWorkload() {
    }

    static byte[] id(int n) {
        byte[] b = new byte[16];
        b[0] = (byte) 0xC7;
        b[15] = (byte) n;
        return b;
    }

    /** Formats {@code disk} and leaves it with a checkpoint plus a log tail; closes the container. */
    static void run(MemoryBlockDevice disk) {
        Container c = Container.format(disk, CONTAINER, CLUSTER, 64 * 1024, 256 * 1024);
        VirtualVolume a = c.createVolume("a", VolumeType.DATA, 2L << 20, 512, id(1), new UUID(1, 1));
        VirtualVolume b = c.createVolume("b", VolumeType.CONFIG, 1L << 20, 4096, id(2), new UUID(1, 2), true);
        c.setMetadata(a.id(), "VMW_VmID", "5012a3f4");
        VolumeDevice da = c.device(a.id());
        VolumeDevice db = c.device(b.id());
        for (int i = 0; i < 300; i++) {
            check(write(da, (i * 7L % 512) * CLUSTER, fill(CLUSTER, i), false));
        }
        check(write(db, 0, fill(64 * 1024, 1000), false));
        VirtualVolume s1 = c.snapshot(a.id(), "a-s1", id(3), new UUID(1, 3));
        for (int i = 0; i < 40; i++) {
            check(write(da, (i * 13L % 512) * CLUSTER + 512, fill(1024, 2000 + i), false));
        }
        check(deallocate(da, 100L * CLUSTER, 8L * CLUSTER));
        VirtualVolume s2 = c.snapshot(a.id(), "a-s2", id(4), new UUID(1, 4));
        VirtualVolume clone = c.cloneLinked(s1.id(), "a-s1-clone", id(5), new UUID(1, 5));
        check(write(c.device(clone.id()), 5L * CLUSTER, fill(CLUSTER, 3000), false));
        c.resizeVolume(a.id(), 3L << 20);
        check(write(da, (600L) * CLUSTER, fill(CLUSTER, 3001), false));
        check(flush(da));
        c.checkpoint();
        // After the checkpoint: records only the log holds.
        check(write(da, 3L * CLUSTER, fill(CLUSTER, 4000), false));
        c.snapshot(a.id(), "a-s3", id(6), new UUID(1, 6));
        c.deleteVolume(s2.id());
        check(flush(da));
        c.close();
    }

    /**
     * {@code length} bytes: in each 512-byte sector an 8-byte value (of the seed and the sector) repeated, so
     * every write can be told apart and the fixture compresses.
     */
    static byte[] fill(int length, long seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) ((seed * 1_000_003 + (i >>> 9)) >>> (8 * (i & 7)));
        }
        return b;
    }

    private static void check(int errno) {
        if (errno != IoCompletion.OK) {
            throw new AssertionError("errno " + errno);
        }
    }

    /** Non-zero 4 KiB blocks as (offset, bytes) records, gzipped. */
    static void save(MemoryBlockDevice disk, OutputStream to) throws IOException {
        try (DataOutputStream out = new DataOutputStream(new GZIPOutputStream(to))) {
            byte[] block = new byte[4096];
            for (long at = 0; at < disk.size(); at += 4096) {
                ByteBuf buf = Unpooled.wrappedBuffer(block).clear();
                if (Container.readNow(disk, at, 4096, buf) != IoCompletion.OK) {
                    throw new IOException("read at " + at);
                }
                boolean zero = true;
                for (byte x : block) {
                    if (x != 0) {
                        zero = false;
                        break;
                    }
                }
                if (!zero) {
                    out.writeLong(at);
                    out.write(block);
                }
            }
            out.writeLong(-1);
        }
    }

    /** A memory device holding what {@link #save} wrote. */
    static MemoryBlockDevice load(InputStream from) throws IOException {
        MemoryBlockDevice disk = new MemoryBlockDevice(DEVICE_SIZE, 512);
        try (DataInputStream in = new DataInputStream(new GZIPInputStream(from))) {
            byte[] block = new byte[4096];
            for (long at = in.readLong(); at >= 0; at = in.readLong()) {
                in.readFully(block);
                check(write(disk, at, block, false));
            }
        }
        return disk;
    }
}
