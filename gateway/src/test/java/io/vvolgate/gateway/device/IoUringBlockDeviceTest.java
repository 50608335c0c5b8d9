package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static io.vvolgate.gateway.device.DeviceCalls.allZero;
import static io.vvolgate.gateway.device.DeviceCalls.pattern;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The io_uring backend against a file on the work disk (@TempDir; /tmp here is ext4, so O_DIRECT is in use;
 * on tmpfs the device falls back to buffered I/O and these tests still hold). Completions arrive on the
 * device's reactor thread, so every helper waits for its completion on a latch.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IoUringBlockDeviceTest {

    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    /** Counts calls and remembers errno; {@link #await} waits for the one call. */
    static final class Waiter implements IoCompletion<Object> {
        final CountDownLatch done = new CountDownLatch(1);
        final AtomicInteger calls = new AtomicInteger();
        volatile int errno = -1;

        @Override
        public void completed(Object attachment, int errno) {
            this.errno = errno;
            calls.incrementAndGet();
            done.countDown();
        }

        int await() {
            try {
                assertTrue(done.await(10, TimeUnit.SECONDS), "no completion within 10 s");
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
            assertEquals(1, calls.get(), "completion must be called exactly once");
            return errno;
        }
    }

    static int write(BlockDevice d, long offset, byte[] data, boolean fua, ByteBuf src) {
        try {
            src.writeBytes(data);
            Waiter w = new Waiter();
            d.write(offset, data.length, src, fua, null, w);
            int errno = w.await();
            assertEquals(0, src.readerIndex(), "write leaves the source's indices unchanged");
            return errno;
        } finally {
            src.release();
        }
    }

    static int write(BlockDevice d, long offset, byte[] data, boolean fua) {
        return write(d, offset, data, fua, PooledByteBufAllocator.DEFAULT.directBuffer(data.length));
    }

    static byte[] read(BlockDevice d, long offset, int length, ByteBuf dst) {
        try {
            int base = dst.writerIndex();
            Waiter w = new Waiter();
            d.read(offset, length, dst, null, w);
            assertEquals(IoCompletion.OK, w.await(), "read at " + offset);
            assertEquals(base + length, dst.writerIndex(), "read advances writerIndex by length");
            byte[] out = new byte[length];
            dst.getBytes(base, out);
            return out;
        } finally {
            dst.release();
        }
    }

    static byte[] read(BlockDevice d, long offset, int length) {
        return read(d, offset, length, PooledByteBufAllocator.DEFAULT.directBuffer(length));
    }

    static int call(java.util.function.Consumer<Waiter> op) {
        Waiter w = new Waiter();
        op.accept(w);
        return w.await();
    }

    /** A direct buffer whose memory is 4096-aligned, so O_DIRECT can use it without the bounce buffer. */
    static ByteBuf alignedBuffer(Arena arena, int length) {
        MemorySegment m = arena.allocate(length, 4096);
        return Unpooled.wrappedBuffer(m.asByteBuffer()).clear();
    }

    @Test
    void opensWithDirectIoOnARealFilesystemAndCreatesTheImageSparse() throws IOException {
        Path image = dir.resolve("ns1.img");
        try (IoUringBlockDevice d = IoUringBlockDevice.open(image, 64 * MIB, 512)) {
            assertEquals(64 * MIB, d.size());
            assertEquals(512, d.blockSize());
            assertTrue(d.volatileWriteCache());
            assertTrue(d.directIo(), "O_DIRECT refused: " + d.directIoRefusal());
            assertTrue(allZero(read(d, 64 * MIB - 4096, 4096)));
        }
        assertEquals(64 * MIB, Files.size(image));
    }

    @Test
    void roundTripsThroughAlignedUnalignedHeapAndCompositeBuffers() throws IOException {
        try (IoUringBlockDevice d = IoUringBlockDevice.open(dir.resolve("ns1.img"), 4 * MIB, 512);
             Arena arena = Arena.ofShared()) {
            byte[] a = pattern(8192, 1);
            assertEquals(IoCompletion.OK, write(d, 0, a, false, alignedBuffer(arena, 8192)));
            assertArrayEquals(a, read(d, 0, 8192, alignedBuffer(arena, 8192)));

            byte[] b = pattern(1536, 2); // 512-byte blocks, read into a buffer at an odd address
            assertEquals(IoCompletion.OK, write(d, 512, b, false, Unpooled.directBuffer(1536)));
            ByteBuf dst = PooledByteBufAllocator.DEFAULT.directBuffer(4096);
            dst.writerIndex(7);
            assertArrayEquals(b, read(d, 512, 1536, dst));

            byte[] c = pattern(4096, 3);
            assertEquals(IoCompletion.OK, write(d, MIB, c, false, Unpooled.buffer(4096)));
            assertArrayEquals(c, read(d, MIB, 4096, Unpooled.buffer(4096)));

            byte[] e = pattern(4096, 4);
            ByteBuf composite = Unpooled.compositeBuffer()
                    .addComponent(true, Unpooled.directBuffer(2048))
                    .addComponent(true, Unpooled.directBuffer(2048));
            composite.writerIndex(0);
            assertEquals(IoCompletion.OK, write(d, 2 * MIB, e, true, composite));
            assertArrayEquals(e, read(d, 2 * MIB, 4096));
        }
    }

    @Test
    void manyConcurrentRandomWritesThenReadsAreAllCorrect() throws Exception {
        int count = 256;
        int block = 4096;
        long size = 16 * MIB;
        try (IoUringBlockDevice d = IoUringBlockDevice.open(dir.resolve("ns1.img"), size, block, 64);
             Arena arena = Arena.ofShared()) {
            Random random = new Random(42);
            long[] offsets = random.longs(0, size / block).distinct().limit(count).map(i -> i * block).toArray();
            ByteBuf[] bufs = new ByteBuf[count];
            CountDownLatch writes = new CountDownLatch(count);
            AtomicIntegerArray results = new AtomicIntegerArray(count);
            AtomicIntegerArray calls = new AtomicIntegerArray(count);
            IoCompletion<Integer> onDone = (i, errno) -> {
                results.set(i, errno);
                calls.incrementAndGet(i);
                writes.countDown();
            };
            for (int i = 0; i < count; i++) {
                // Half aligned (straight to the kernel), half pooled (through the bounce buffers).
                bufs[i] = i % 2 == 0 ? alignedBuffer(arena, block) : PooledByteBufAllocator.DEFAULT.directBuffer(block);
                bufs[i].writeBytes(pattern(block, i));
                d.write(offsets[i], block, bufs[i], false, i, onDone);
            }
            assertTrue(writes.await(10, TimeUnit.SECONDS));
            for (int i = 0; i < count; i++) {
                assertEquals(IoCompletion.OK, results.get(i), "write " + i);
                assertEquals(1, calls.get(i), "write " + i + " completed exactly once");
                bufs[i].clear();
            }
            CountDownLatch reads = new CountDownLatch(count);
            IoCompletion<Integer> onRead = (i, errno) -> {
                results.set(i, errno);
                reads.countDown();
            };
            for (int i = 0; i < count; i++) {
                d.read(offsets[i], block, bufs[i], i, onRead);
            }
            assertTrue(reads.await(10, TimeUnit.SECONDS));
            for (int i = 0; i < count; i++) {
                assertEquals(IoCompletion.OK, results.get(i), "read " + i);
                assertEquals(block, bufs[i].writerIndex());
                byte[] got = new byte[block];
                bufs[i].getBytes(0, got);
                assertArrayEquals(pattern(block, i), got, "block " + i);
                bufs[i].release();
            }
            assertTrue(d.enterCalls() < 2L * count, "submissions are batched: " + d.enterCalls() + " enters");
        }
    }

    @Test
    void fuaWritesFlushAndZeroingSucceedAndPersist() throws IOException {
        Path image = dir.resolve("ns1.img");
        try (IoUringBlockDevice d = IoUringBlockDevice.open(image, MIB, 512)) {
            assertEquals(IoCompletion.OK, write(d, 0, pattern(512, 1), true));
            assertEquals(IoCompletion.OK, write(d, 512, pattern(512, 2), false));
            assertEquals(IoCompletion.OK, call(w -> d.flush(null, w)));
            assertEquals(IoCompletion.OK, write(d, 1024, pattern(512, 3), false));
            assertEquals(IoCompletion.OK, call(w -> d.writeZeroes(1024, 512, true, null, w)));
        }
        byte[] onDisk = Files.readAllBytes(image);
        byte[] expected = new byte[1536];
        System.arraycopy(pattern(512, 1), 0, expected, 0, 512);
        System.arraycopy(pattern(512, 2), 0, expected, 512, 512);
        assertArrayEquals(expected, Arrays.copyOf(onDisk, 1536));
    }

    @Test
    void deallocatedAndZeroedRangesReadBackAsZeroes() throws IOException {
        try (IoUringBlockDevice d = IoUringBlockDevice.open(dir.resolve("ns1.img"), 8 * MIB, 4096)) {
            byte[] data = pattern((int) (3 * MIB), 9);
            assertEquals(IoCompletion.OK, write(d, MIB, data, false));
            assertEquals(IoCompletion.OK, call(w -> d.deallocate(MIB + 4096, MIB, null, w)));
            assertEquals(IoCompletion.OK, call(w -> d.writeZeroes(3 * MIB, 8192, false, null, w)));
            byte[] back = read(d, MIB, (int) (3 * MIB));
            assertArrayEquals(Arrays.copyOf(data, 4096), Arrays.copyOf(back, 4096));
            assertTrue(allZero(Arrays.copyOfRange(back, 4096, 4096 + (int) MIB)));
            assertArrayEquals(Arrays.copyOfRange(data, 4096 + (int) MIB, (int) (2 * MIB)),
                    Arrays.copyOfRange(back, 4096 + (int) MIB, (int) (2 * MIB)));
            assertTrue(allZero(Arrays.copyOfRange(back, (int) (2 * MIB), (int) (2 * MIB) + 8192)));
            assertArrayEquals(Arrays.copyOfRange(data, (int) (2 * MIB) + 8192, data.length),
                    Arrays.copyOfRange(back, (int) (2 * MIB) + 8192, data.length));
        }
    }

    @Test
    void outOfRangeAndMisalignedRequestsFailWithErangeAndShortBuffersWithEio() throws IOException {
        try (IoUringBlockDevice d = IoUringBlockDevice.open(dir.resolve("ns1.img"), MIB, 512)) {
            ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(4096);
            try {
                assertEquals(IoCompletion.ERANGE, call(w -> d.read(MIB, 512, buf, null, w)));
                assertEquals(IoCompletion.ERANGE, call(w -> d.read(MIB - 512, 1024, buf, null, w)));
                assertEquals(IoCompletion.ERANGE, call(w -> d.read(100, 512, buf, null, w)));
                assertEquals(IoCompletion.ERANGE, call(w -> d.read(-512, 512, buf, null, w)));
                assertEquals(0, buf.writerIndex(), "a failed read does not advance writerIndex");
                assertEquals(IoCompletion.ERANGE, call(w -> d.write(MIB, 512, buf, false, null, w)));
                assertEquals(IoCompletion.EIO, call(w -> d.write(0, 512, buf, false, null, w)), "no readable bytes");
                assertEquals(IoCompletion.ERANGE, call(w -> d.deallocate(0, 2 * MIB, null, w)));
                assertEquals(IoCompletion.ERANGE, call(w -> d.writeZeroes(512, 100, false, null, w)));
            } finally {
                buf.release();
            }
        }
    }

    @Test
    void dataPersistsAcrossReopenAndAWrongSizeIsRefused() throws IOException {
        Path image = dir.resolve("ns1.img");
        byte[] data = pattern(64 * 1024, 5);
        try (IoUringBlockDevice d = IoUringBlockDevice.open(image, 4 * MIB, 4096)) {
            assertEquals(IoCompletion.OK, write(d, MIB + 8192, data, false));
        }
        try (IoUringBlockDevice d = IoUringBlockDevice.open(image, 4 * MIB, 4096)) {
            assertArrayEquals(data, read(d, MIB + 8192, data.length));
        }
        IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
                () -> IoUringBlockDevice.open(image, 8 * MIB, 4096));
        assertTrue(e.getMessage().contains("resizing"), e.getMessage());
    }

    @Test
    void closeWithIoInFlightCompletesEveryOperationAndLaterOnesFail() throws Exception {
        Path image = dir.resolve("ns1.img");
        int count = 512;
        CountDownLatch all = new CountDownLatch(count);
        AtomicInteger ok = new AtomicInteger();
        AtomicIntegerArray calls = new AtomicIntegerArray(count);
        ByteBuf[] bufs = new ByteBuf[count];
        IoUringBlockDevice d = IoUringBlockDevice.open(image, 8 * MIB, 4096, 32);
        IoCompletion<Integer> onDone = (i, errno) -> {
            calls.incrementAndGet(i);
            if (errno == IoCompletion.OK) {
                ok.incrementAndGet();
            }
            all.countDown();
        };
        for (int i = 0; i < count; i++) {
            bufs[i] = PooledByteBufAllocator.DEFAULT.directBuffer(4096).writeBytes(pattern(4096, i));
            d.write((long) (i % 2048) * 4096, 4096, bufs[i], false, i, onDone);
        }
        d.close();
        assertEquals(0, all.getCount(), "close returns after every submitted operation has completed");
        assertEquals(count, ok.get(), "operations submitted before close complete normally");
        for (int i = 0; i < count; i++) {
            assertEquals(1, calls.get(i));
            bufs[i].release();
        }
        assertEquals(IoCompletion.EIO, call(w -> d.flush(null, w)), "after close");
        d.close(); // idempotent
        try (IoUringBlockDevice again = IoUringBlockDevice.open(image, 8 * MIB, 4096)) {
            assertArrayEquals(pattern(4096, count - 1), read(again, (long) (count - 1) * 4096, 4096));
        }
    }

    @Test
    void aCompletionHandlerMaySubmitMoreIoFromTheReactorThread() throws IOException {
        try (IoUringBlockDevice d = IoUringBlockDevice.open(dir.resolve("ns1.img"), MIB, 4096)) {
            ByteBuf src = PooledByteBufAllocator.DEFAULT.directBuffer(4096).writeBytes(pattern(4096, 8));
            Waiter second = new Waiter();
            IoCompletion<Object> chain = (att, errno) -> d.flush(null, second);
            Waiter first = new Waiter();
            d.write(0, 4096, src, false, null, (att, errno) -> {
                chain.completed(att, errno);
                first.completed(att, errno);
            });
            assertEquals(IoCompletion.OK, first.await());
            assertEquals(IoCompletion.OK, second.await());
            src.release();
        }
    }
}
