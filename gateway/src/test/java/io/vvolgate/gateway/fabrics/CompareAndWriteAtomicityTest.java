package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.DeviceHealth;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import io.vvolgate.gateway.testing.LeakFailingExtension;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VMFS takes its on-disk locks with fused Compare-and-Write. Several hosts (queues on their own threads)
 * guard a shared counter with a lock block taken and released by Compare-and-Write, over a device that
 * completes I/O later on its own threads (as io_uring and SPDK will). If the pair were not atomic against
 * the other writes, two hosts would hold the lock at once and increments would be lost.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(60)
class CompareAndWriteAtomicityTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:caw";
    static final long LOCK_LBA = 0;
    static final long COUNTER_LBA = 8;

    /** Completes every operation of the memory device a little later on a pool thread. */
    static final class SlowAsyncDevice implements BlockDevice {
        final MemoryBlockDevice inner = new MemoryBlockDevice(1 << 20, 512);
        final ExecutorService pool = Executors.newFixedThreadPool(3);

        <A> void later(Runnable op) {
            pool.execute(() -> {
                if (ThreadLocalRandom.current().nextInt(4) == 0) {
                    Thread.yield();
                }
                op.run();
            });
        }

        @Override public long size() { return inner.size(); }
        @Override public int blockSize() { return 512; }
        @Override public boolean volatileWriteCache() { return false; }
        @Override public DeviceHealth health() { return DeviceHealth.UNKNOWN; }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A a, IoCompletion<A> c) {
            later(() -> inner.read(offset, length, dst, a, c));
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A a, IoCompletion<A> c) {
            later(() -> inner.write(offset, length, src, fua, a, c));
        }

        @Override
        public <A> void writeZeroes(long offset, long length, boolean fua, A a, IoCompletion<A> c) {
            later(() -> inner.writeZeroes(offset, length, fua, a, c));
        }

        @Override
        public <A> void deallocate(long offset, long length, A a, IoCompletion<A> c) {
            later(() -> inner.deallocate(offset, length, a, c));
        }

        @Override
        public <A> void flush(A a, IoCompletion<A> c) {
            later(() -> inner.flush(a, c));
        }

        @Override
        public void close() {
            pool.shutdown();
            inner.close();
        }
    }

    static byte[] block(long value) {
        byte[] b = new byte[512];
        for (int i = 0; i < 8; i++) {
            b[i] = (byte) (value >>> (8 * i));
        }
        return b;
    }

    static long value(byte[] b) {
        long v = 0;
        for (int i = 7; i >= 0; i--) {
            v = (v << 8) | (b[i] & 0xFF);
        }
        return v;
    }

    /**
     * A memory device that completes inline (so plain reads and writes run on the host threads, not the reactor),
     * and lets other threads run in the middle of a write: half the block, a yield, the other half.
     */
    static final class TornInlineDevice implements BlockDevice {
        final MemoryBlockDevice inner = new MemoryBlockDevice(1 << 20, 512);

        @Override public long size() { return inner.size(); }
        @Override public int blockSize() { return 512; }
        @Override public boolean volatileWriteCache() { return false; }
        @Override public DeviceHealth health() { return DeviceHealth.UNKNOWN; }
        @Override public boolean completesInline() { return true; }

        @Override
        public <A> void read(long offset, int length, ByteBuf dst, A a, IoCompletion<A> c) {
            inner.read(offset, length, dst, a, c);
        }

        @Override
        public <A> void write(long offset, int length, ByteBuf src, boolean fua, A a, IoCompletion<A> c) {
            // First a torn state (the new first half over the old second half), a yield, then the whole.
            int[] errno = new int[1];
            IoCompletion<int[]> keep = (e, code) -> e[0] |= code;
            ByteBuf torn = io.netty.buffer.Unpooled.buffer(length);
            inner.read(offset, length, torn, errno, keep);
            torn.setBytes(0, src, src.readerIndex(), length / 2);
            inner.write(offset, length, torn, fua, errno, keep);
            Thread.yield();
            inner.write(offset, length, src, fua, errno, keep);
            c.completed(a, errno[0]);
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

    @Test
    void hostsSerialisedByCompareAndWriteNeverLoseAnIncrement() throws Exception {
        lockedCounter(new SlowAsyncDevice());
    }

    /** The same on the run-to-completion path: plain reads and writes inline on the host threads, pairs on the reactor. */
    @Test
    void hostsSerialisedByCompareAndWriteNeverLoseAnIncrementWhenPlainIoRunsInline() throws Exception {
        lockedCounter(new TornInlineDevice());
    }

    private void lockedCounter(BlockDevice device) throws Exception {
        Target target = new Target(1);
        try {
            Subsystem s = target.addSubsystem(NQN, "S", "m", true, List.of());
            target.addNamespace(s, 1, device, 512, new byte[16], UUID.randomUUID(), 1);
            Port port = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);
            TestQueue admin = new TestQueue(target, port);
            int cntlid = admin.connect(NQN, 0, 31, 0xFFFF, 0).result0();
            admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20));

            int hosts = 4;
            int rounds = 150;
            ExecutorService threads = Executors.newFixedThreadPool(hosts);
            List<Future<Integer>> results = new ArrayList<>();
            for (int h = 1; h <= hosts; h++) {
                int qid = h;
                results.add(threads.submit(() -> {
                    TestQueue io = new TestQueue(target, port);
                    assertEquals(Status.SUCCESS, io.connect(NQN, qid, 127, cntlid, 0).status());
                    int acquired = 0;
                    for (int i = 0; i < rounds; i++) {
                        if (!compareAndWrite(io, LOCK_LBA, block(0), block(qid))) {
                            continue;
                        }
                        acquired++;
                        long counter = value(read(io, COUNTER_LBA));
                        assertEquals(Status.SUCCESS, write(io, COUNTER_LBA, block(counter + 1)));
                        assertTrue(compareAndWrite(io, LOCK_LBA, block(qid), block(0)), "only the holder releases");
                    }
                    return acquired;
                }));
            }
            int total = 0;
            for (Future<Integer> f : results) {
                total += f.get(50, TimeUnit.SECONDS);
            }
            threads.shutdown();
            TestQueue check = new TestQueue(target, port);
            check.connect(NQN, hosts + 1, 127, cntlid, 0);
            assertTrue(total > 0);
            assertEquals(total, value(read(check, COUNTER_LBA)), "every increment made under the lock is there");
        } finally {
            target.close();
            device.close();
        }
    }

    static NvmeRequest rw(TestQueue q, int opcode, long slba) {
        NvmeRequest r = q.command(opcode, 1);
        q.cdw(r, 10, (int) slba);
        q.cdw(r, 12, 0);
        return r;
    }

    static byte[] read(TestQueue q, long lba) {
        NvmeRequest done = q.execute(q.withReadBuffer(rw(q, Opcodes.IO_READ, lba), 512));
        assertEquals(Status.SUCCESS, done.status());
        byte[] b = new byte[512];
        done.data().getBytes(0, b);
        return b;
    }

    static int write(TestQueue q, long lba, byte[] data) {
        return q.execute(q.withWriteData(rw(q, Opcodes.IO_WRITE, lba), data)).status();
    }

    static boolean compareAndWrite(TestQueue q, long lba, byte[] expected, byte[] replacement) {
        NvmeRequest cmp = q.withWriteData(rw(q, Opcodes.IO_COMPARE, lba), expected);
        cmp.sqe().setByte(1, Opcodes.FUSE_FIRST);
        NvmeRequest wr = q.withWriteData(rw(q, Opcodes.IO_WRITE, lba), replacement);
        wr.sqe().setByte(1, Opcodes.FUSE_SECOND);
        q.queue.submit(cmp);
        q.queue.submit(wr);
        int a = q.await().status();
        int b = q.await().status();
        if (a == Status.SUCCESS && b == Status.SUCCESS) {
            return true;
        }
        assertTrue(a == Status.COMPARE_FAILURE || b == Status.COMPARE_FAILURE, Status.describe(a) + " / " + Status.describe(b));
        return false;
    }
}
