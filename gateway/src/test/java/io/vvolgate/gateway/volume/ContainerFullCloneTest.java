package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.testing.ForwardingDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.vvolgate.gateway.volume.VolumeIo.pattern;
import static io.vvolgate.gateway.volume.VolumeIo.read;
import static io.vvolgate.gateway.volume.VolumeIo.write;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A full clone's background copy against the container's lifecycle and its metadata log: a close in the
 * middle of the copy, and a copy longer than the log. A class of its own beside {@link ContainerTest}
 * because these need devices that hold the copy, or a log of a few blocks.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(120)
class ContainerFullCloneTest {

    /**
     * Holds the full-clone copy's reads (recognised by the copy thread's name) until the test releases them,
     * and counts every call that reaches the device once the container's {@code close} has returned: the
     * owner closes the device then, so any such call is I/O on a closed device.
     */
    static final class HeldCopyReads extends ForwardingDevice {
        final CountDownLatch held = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile boolean containerClosed;
        final List<String> afterClose = java.util.Collections.synchronizedList(new ArrayList<>());

        HeldCopyReads(BlockDevice inner) {
            super(inner);
        }

        private void noteCall(String what) {
            if (containerClosed) {
                afterClose.add(what + " on " + Thread.currentThread().getName());
            }
        }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
            if (Thread.currentThread().getName().startsWith("vvolgate-full-clone-")) {
                held.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            noteCall("read at " + offset);
            inner.read(offset, length, dst, attachment, completion);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
            noteCall("write at " + offset);
            inner.write(offset, length, src, fua, attachment, completion);
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
            noteCall("write zeroes at " + offset);
            inner.writeZeroes(offset, length, fua, attachment, completion);
        }

        @Override
        public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
            noteCall("deallocate at " + offset);
            inner.deallocate(offset, length, attachment, completion);
        }

        @Override
        public <A> void flush(A attachment, IoCompletion<A> completion) {
            noteCall("flush");
            inner.flush(attachment, completion);
        }
    }

    /** Returns once {@code t} has ended or is parked (waiting for something another thread must do). */
    static void awaitParkedOrEnded(Thread t) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (t.isAlive() && t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
            if (System.nanoTime() > deadline) {
                fail(t.getName() + " neither ended nor waited within 30 s: " + t.getState());
            }
            Thread.onSpinWait();
        }
    }

    @Test
    void closingDuringAFullCloneCopyStopsItCleanlyAndTheNextOpenFinishesIt() throws Exception {
        int cluster = 64 * 1024;
        int clusters = 256;
        MemoryBlockDevice memory = new MemoryBlockDevice(64L << 20, 512);
        HeldCopyReads disk = new HeldCopyReads(memory);
        Container c = Container.format(disk, UUID.randomUUID(), cluster);
        VirtualVolume v = c.createVolume("template", VolumeType.DATA, (long) clusters * cluster, 512, new byte[16], UUID.randomUUID());
        byte[] data = pattern(clusters * cluster, 41);
        assertEquals(IoCompletion.OK, write(c.device(v.id()), 0, data, false));
        VirtualVolume snap = c.snapshot(v.id(), "template-snap", new byte[16], UUID.randomUUID());
        VirtualVolume clone = c.cloneFull(snap.id(), "vm", new byte[16], UUID.randomUUID());
        CompletableFuture<Void> copy = c.copyDone(clone.id());
        assertTrue(disk.held.await(30, TimeUnit.SECONDS), "the copy read its first cluster");

        AtomicReference<Throwable> closeFailed = new AtomicReference<>();
        Thread closer = new Thread(() -> {
            try {
                c.close();
            } catch (Throwable e) {
                closeFailed.set(e);
            } finally {
                disk.containerClosed = true; // from here on the owner may close the device
            }
        }, "closer");
        closer.start();
        // The copy is inside a cluster now: close must wait for it (or, wrongly, return at once).
        awaitParkedOrEnded(closer);
        disk.release.countDown();
        closer.join(TimeUnit.SECONDS.toMillis(60));
        assertFalse(closer.isAlive(), "close returned");
        assertEquals(null, closeFailed.get());
        try {
            copy.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            // stopped by the close: it resumes at the next open
        }
        assertEquals(List.of(), disk.afterClose, "nothing reaches the device once close has returned");

        Container again = Container.open(memory);
        try {
            again.copyDone(clone.id()).get(60, TimeUnit.SECONDS);
            assertFalse(again.copying(clone.id()));
            assertArrayEquals(data, read(again.device(clone.id()), 0, data.length), "the clone holds the snapshot's contents");
            again.deleteVolume(snap.id());
            again.deleteVolume(v.id());
            assertEquals((long) clusters * cluster, again.space().used(), "the clone owns every one of its clusters");
            assertArrayEquals(data, read(again.device(clone.id()), 0, data.length), "and keeps its data without its snapshot");
        } finally {
            again.close();
        }
        Fsck.Report check = Fsck.check(memory, false, true);
        assertTrue(check.clean(), check.findings().toString());
        memory.close();
    }

    @Test
    void aFullCloneLongerThanTheLogCheckpointsOnTheWayAndReopensComplete() throws Exception {
        int cluster = 4096;
        int clusters = 3072; // 3,072 MAP records of 27 bytes: about 21 log blocks, and the log holds 8
        int chunk = 64 * cluster; // a host write logs at most 64 records
        MemoryBlockDevice disk = new MemoryBlockDevice(64L << 20, 512);
        Container c = Container.format(disk, UUID.randomUUID(), cluster, 8 * MetadataLog.BLOCK_SIZE, 1L << 20);
        VirtualVolume v = c.createVolume("template", VolumeType.DATA, (long) clusters * cluster, 512, new byte[16], UUID.randomUUID());
        byte[] data = pattern(clusters * cluster, 42);
        VolumeDevice head = c.device(v.id());
        for (int at = 0; at < data.length; at += chunk) {
            assertEquals(IoCompletion.OK, write(head, at, java.util.Arrays.copyOfRange(data, at, at + chunk), false));
        }
        VirtualVolume snap = c.snapshot(v.id(), "template-snap", new byte[16], UUID.randomUUID());
        long checkpointsBefore = c.checkpointCount();
        VirtualVolume clone = c.cloneFull(snap.id(), "vm", new byte[16], UUID.randomUUID());
        c.copyDone(clone.id()).get(60, TimeUnit.SECONDS);
        assertTrue(c.checkpointCount() - checkpointsBefore >= 2,
                "the copy alone emptied the log by checkpoints along the way: " + (c.checkpointCount() - checkpointsBefore));
        assertArrayEquals(data, read(c.device(clone.id()), 0, data.length));

        // A second one while the host rewrites the template's head: the host's copy-on-write records and
        // checkpoints interleave with the copy's.
        VirtualVolume second = c.cloneFull(snap.id(), "vm2", new byte[16], UUID.randomUUID());
        byte[] newer = pattern(clusters * cluster, 43);
        for (int at = 0; at < newer.length; at += chunk) {
            assertEquals(IoCompletion.OK, write(head, at, java.util.Arrays.copyOfRange(newer, at, at + chunk), false));
        }
        c.copyDone(second.id()).get(60, TimeUnit.SECONDS);
        c.close();

        Container again = Container.open(disk);
        try {
            assertFalse(again.copying(clone.id()), "the copy's end was logged");
            assertFalse(again.copying(second.id()), "the copy's end was logged");
            assertArrayEquals(data, read(again.device(clone.id()), 0, data.length), "the clone after reopening");
            assertArrayEquals(data, read(again.device(second.id()), 0, data.length), "the second clone after reopening");
            assertArrayEquals(newer, read(again.device(v.id()), 0, newer.length), "the head after reopening");
            again.deleteVolume(snap.id());
            assertArrayEquals(data, read(again.device(clone.id()), 0, data.length), "the clone without its snapshot");
            assertArrayEquals(data, read(again.device(second.id()), 0, data.length), "the second clone without its snapshot");
            assertEquals(3L * clusters * cluster, again.space().used(), "the head and both clones, each with clusters of its own");
        } finally {
            again.close();
        }
        Fsck.Report check = Fsck.check(disk, false, true);
        assertTrue(check.clean(), check.findings().toString());
        disk.close();
    }
}
