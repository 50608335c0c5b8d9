package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.DeviceHealth;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.io.IoReactor;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.vvolgate.gateway.fabrics.CompareAndWriteAtomicityTest.block;
import static io.vvolgate.gateway.fabrics.CompareAndWriteAtomicityTest.rw;
import static io.vvolgate.gateway.fabrics.CompareAndWriteAtomicityTest.value;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The run-to-completion path of a namespace on a device that completes inline (memory): reads and writes run
 * on the submitting thread without a trip through the reactor, and a fused Compare-and-Write still waits for
 * an inline write in progress and keeps later writes out until it is done.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(30)
class NamespaceIoTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:nsio";

    /** A memory device that says it completes inline, logs each operation with its thread, and can hold a write. */
    static final class GatedInlineDevice implements BlockDevice {
        final MemoryBlockDevice inner = new MemoryBlockDevice(1 << 20, 512);
        final ConcurrentLinkedQueue<String> log = new ConcurrentLinkedQueue<>();
        volatile CountDownLatch writeEntered;
        volatile CountDownLatch releaseWrite;

        @Override public long size() { return inner.size(); }
        @Override public int blockSize() { return 512; }
        @Override public boolean volatileWriteCache() { return false; }
        @Override public DeviceHealth health() { return DeviceHealth.UNKNOWN; }
        @Override public boolean completesInline() { return true; }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A a, IoCompletion<A> c) {
            log.add("read " + (offset / 512) + " on " + Thread.currentThread().getName());
            inner.read(offset, length, dst, a, c);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A a, IoCompletion<A> c) {
            CountDownLatch release = releaseWrite;
            if (release != null) {
                releaseWrite = null;
                writeEntered.countDown();
                try {
                    assertTrue(release.await(10, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            }
            log.add("write " + (offset / 512) + " on " + Thread.currentThread().getName());
            inner.write(offset, length, src, fua, a, c);
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A a, IoCompletion<A> c) {
            inner.writeZeroes(offset, length, fua, a, c);
        }

        @Override
        public <A> void deallocate(long offset, long length, A a, IoCompletion<A> c) {
            inner.deallocate(offset, length, a, c);
        }

        @Override
        public <A> void flush(A a, IoCompletion<A> c) {
            inner.flush(a, c);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    GatedInlineDevice device;
    Target target;
    TestQueue io;
    TestQueue other;

    @BeforeEach
    void setUp() {
        device = new GatedInlineDevice();
        target = new Target(1);
        Subsystem s = target.addSubsystem(NQN, "S", "m", true, List.of());
        target.addNamespace(s, 1, device, 512, new byte[16], UUID.randomUUID(), 1);
        Port port = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);
        TestQueue admin = new TestQueue(target, port);
        int cntlid = admin.connect(NQN, 0, 31, 0xFFFF, 0).result0();
        admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20));
        io = new TestQueue(target, port);
        assertEquals(Status.SUCCESS, io.connect(NQN, 1, 127, cntlid, 0).status());
        other = new TestQueue(target, port);
        assertEquals(Status.SUCCESS, other.connect(NQN, 2, 127, cntlid, 0).status());
    }

    @AfterEach
    void tearDown() {
        target.close();
        device.close();
    }

    IoReactor reactor() {
        return target.reactors().getFirst();
    }

    @Test
    void readsWritesAndFlushesRunOnTheSubmittingThread() {
        long before = reactor().executed();
        assertEquals(Status.SUCCESS, CompareAndWriteAtomicityTest.write(io, 3, block(42)));
        assertEquals(42, value(CompareAndWriteAtomicityTest.read(io, 3)));
        assertEquals(Status.SUCCESS, io.execute(io.command(Opcodes.IO_FLUSH, 1)).status());
        String me = Thread.currentThread().getName();
        assertEquals(List.of("write 3 on " + me, "read 3 on " + me), List.copyOf(device.log));
        assertEquals(before, reactor().executed(), "nothing went through the reactor");
    }

    @Test
    void aFusedPairWaitsForAnInlineWriteInProgressAndWritesAfterItGoThroughTheReactor() throws Exception {
        assertEquals(Status.SUCCESS, CompareAndWriteAtomicityTest.write(io, 0, block(1)));
        device.log.clear();

        // A plain write to the pair's block is inside the device, held there.
        device.writeEntered = new CountDownLatch(1);
        device.releaseWrite = new CountDownLatch(1);
        CountDownLatch release = device.releaseWrite;
        Thread writer = Thread.ofPlatform().name("inline-writer").start(
                () -> assertEquals(Status.SUCCESS, CompareAndWriteAtomicityTest.write(other, 0, block(2))));
        assertTrue(device.writeEntered.await(10, TimeUnit.SECONDS));

        // The pair (compare 2, write 3) is submitted: it must not read the block while that write is under way.
        NvmeRequest cmp = io.withWriteData(rw(io, Opcodes.IO_COMPARE, 0), block(2));
        cmp.sqe().setByte(1, Opcodes.FUSE_FIRST);
        NvmeRequest wr = io.withWriteData(rw(io, Opcodes.IO_WRITE, 0), block(3));
        wr.sqe().setByte(1, Opcodes.FUSE_SECOND);
        io.queue.submit(cmp);
        io.queue.submit(wr);
        assertNull(io.completions.poll(300, TimeUnit.MILLISECONDS), "the pair waits for the write in progress");
        assertTrue(device.log.isEmpty(), "the pair's compare has not read: " + device.log);

        release.countDown();
        writer.join(10_000);
        assertEquals(Status.SUCCESS, io.await().status(), "compare");
        assertEquals(Status.SUCCESS, io.await().status(), "write");
        assertEquals(List.of("write 0 on inline-writer", "read 0 on vvolgate-io-0", "write 0 on vvolgate-io-0"),
                List.copyOf(device.log), "the compare read the finished write, then the pair wrote");
        assertEquals(3, value(CompareAndWriteAtomicityTest.read(io, 0)));

        // The fence is down again: the next write runs inline.
        device.log.clear();
        assertEquals(Status.SUCCESS, CompareAndWriteAtomicityTest.write(io, 5, block(5)));
        assertEquals(List.of("write 5 on " + Thread.currentThread().getName()), List.copyOf(device.log));
    }
}
