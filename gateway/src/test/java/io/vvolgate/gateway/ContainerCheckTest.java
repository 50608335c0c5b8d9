package io.vvolgate.gateway;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.FileBlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MirroredDevice;
import io.vvolgate.gateway.testing.ForwardingDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import io.vvolgate.gateway.volume.Container;
import io.vvolgate.gateway.volume.VirtualVolume;
import io.vvolgate.gateway.volume.VolumeType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
@Timeout(120)
class ContainerCheckTest {
    static final long LEG = 64L << 20;

    @TempDir
    Path dir;

    /** Holds back the writes of a full clone's background copy (its thread's), so the copy stays unfinished. */
    static final class HoldCopies extends ForwardingDevice {
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch held = new CountDownLatch(1);

        HoldCopies(BlockDevice inner) {
            super(inner);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
            if (Thread.currentThread().getName().startsWith("vvolgate-full-clone-")) {
                held.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            inner.write(offset, length, src, fua, attachment, completion);
        }

        @Override
        public void close() {
            // The test closes the device it wraps.
        }
    }

    static void write(BlockDevice d, long offset, byte[] data) {
        ByteBuf src = Unpooled.wrappedBuffer(data);
        CompletableFuture<Integer> f = new CompletableFuture<>();
        d.write(offset, data.length, src, true, f, (done, errno) -> done.complete(errno));
        try {
            assertEquals(IoCompletion.OK, f.get(30, TimeUnit.SECONDS));
        } catch (Exception e) {
            throw new AssertionError(e);
        } finally {
            src.release();
        }
    }

    static String sha256(Path p) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * The images of a mirrored container as a power cut leaves them: a full clone whose copy has not
     * finished (its FULL_COPY record committed, no copied cluster yet) and write-intent bits still set.
     */
    void crashedMirrorWithAnUnfinishedFullClone(Path a, Path b) throws Exception {
        byte[][] images = new byte[2][];
        try (FileBlockDevice la = FileBlockDevice.open(a, LEG, 512); FileBlockDevice lb = FileBlockDevice.open(b, LEG, 512)) {
            MirroredDevice m = MirroredDevice.open(la, lb);
            HoldCopies gate = new HoldCopies(m);
            Container c = Container.format(gate, UUID.randomUUID(), 64 * 1024);
            VirtualVolume v = c.createVolume("vm", VolumeType.DATA, 8L << 20, 512, new byte[16], UUID.randomUUID());
            byte[] data = new byte[1 << 20];
            new Random(5).nextBytes(data);
            write(c.device(v.id()), 0, data);
            VirtualVolume snap = c.snapshot(v.id(), "snap", new byte[16], UUID.randomUUID());
            VirtualVolume clone = c.cloneFull(snap.id(), "full", new byte[16], UUID.randomUUID());
            assertTrue(gate.held.await(30, TimeUnit.SECONDS), "the copy started");
            assertTrue(c.copying(clone.id()));
            write(c.device(v.id()), 2L << 20, data); // a fresh write: its region's bit is set on both legs now
            images[0] = Files.readAllBytes(a); // the cut: what the files hold at this instant
            images[1] = Files.readAllBytes(b);
            gate.release.countDown();
            // Let the copy end before closing (a close would stop it, to resume at the next open): this test
            // is about the images taken above, not about a copy cut short by a close.
            c.copyDone(clone.id()).get(30, TimeUnit.SECONDS);
            c.close();
            m.close();
        }
        Files.write(a, images[0]);
        Files.write(b, images[1]);
    }

    @Test
    void fsckWithoutRepairChangesNoByteAndNoTimestampOfAMirrorWithAnUnfinishedFullClone() throws Exception {
        Path a = dir.resolve("pool-a.img");
        Path b = dir.resolve("pool-b.img");
        crashedMirrorWithAnUnfinishedFullClone(a, b);
        FileTime old = FileTime.fromMillis(1_600_000_000_000L);
        Files.setLastModifiedTime(a, old);
        Files.setLastModifiedTime(b, old);
        String sumA = sha256(a);
        String sumB = sha256(b);

        ContainerCheck check = ContainerCheck.run(List.of(a, b), false, true);
        String report = String.join("\n", check.lines());
        assertFalse(check.errors(), report);
        assertFalse(check.repaired());
        assertTrue(report.contains("dirty regions: the legs may differ there"), report);
        assertTrue(report.contains("its background copy is unfinished"), report);
        assertTrue(report.contains("3 volumes and snapshots"), report);
        ContainerCheck alone = ContainerCheck.run(List.of(b), false, false);
        assertTrue(String.join("\n", alone.lines()).contains("pool-b.img: leg 1 of mirror"), alone.lines().toString());

        assertEquals(sumA, sha256(a), "leg 0 unchanged");
        assertEquals(sumB, sha256(b), "leg 1 unchanged");
        assertEquals(old, Files.getLastModifiedTime(a), "leg 0 never written");
        assertEquals(old, Files.getLastModifiedTime(b), "leg 1 never written");

        // Serving it afterwards resumes the copy fsck left alone, and repairs the mirror.
        try (FileBlockDevice la = FileBlockDevice.open(a, LEG, 512); FileBlockDevice lb = FileBlockDevice.open(b, LEG, 512)) {
            MirroredDevice m = MirroredDevice.open(la, lb);
            Container c = Container.open(m);
            VirtualVolume clone = c.volumes().stream().filter(v -> v.name().equals("full")).findFirst().orElseThrow();
            c.copyDone(clone.id()).get(30, TimeUnit.SECONDS);
            assertEquals(1.0, c.copyProgress(clone.id()));
            m.resyncDone().get(30, TimeUnit.SECONDS);
            c.close();
            m.close();
        }
        assertTrue(ContainerCheck.run(List.of(a, b), false, true).clean());
    }

    @Test
    void twoImagesThatAreNotMirrorLegsAreRefused() throws Exception {
        Path a = dir.resolve("a.img");
        Path b = dir.resolve("b.img");
        Files.write(a, new byte[1 << 20]);
        Files.write(b, new byte[1 << 20]);
        GatewayException e = assertThrows(GatewayException.class, () -> ContainerCheck.run(List.of(a, b), false, false));
        assertTrue(e.getMessage().contains("is a leg of a mirrored pair"), e.getMessage());
        assertThrows(GatewayException.class, () -> ContainerCheck.run(List.of(dir.resolve("missing.img")), false, false));
        assertFalse(Files.exists(dir.resolve("missing.img")), "fsck creates nothing");
    }
}
