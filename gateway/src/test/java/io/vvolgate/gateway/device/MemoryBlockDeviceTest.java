package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.vvolgate.gateway.device.DeviceCalls.allZero;
import static io.vvolgate.gateway.device.DeviceCalls.deallocate;
import static io.vvolgate.gateway.device.DeviceCalls.flush;
import static io.vvolgate.gateway.device.DeviceCalls.pattern;
import static io.vvolgate.gateway.device.DeviceCalls.read;
import static io.vvolgate.gateway.device.DeviceCalls.readErrno;
import static io.vvolgate.gateway.device.DeviceCalls.write;
import static io.vvolgate.gateway.device.DeviceCalls.writeZeroes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class MemoryBlockDeviceTest {

    private static final long GIB = 1L << 30;
    private static final int CHUNK = MemoryBlockDevice.CHUNK_SIZE;

    @Test
    void aLargeDeviceCostsNothingUntilWritten() {
        try (MemoryBlockDevice d = new MemoryBlockDevice(GIB, 512)) {
            assertEquals(GIB, d.size());
            assertEquals(512, d.blockSize());
            assertFalse(d.volatileWriteCache());
            assertEquals(0, d.allocatedBytes());
            assertTrue(allZero(read(d, GIB - 4096, 4096)));
            assertEquals(0, d.allocatedBytes(), "reading must not allocate");
            assertEquals(IoCompletion.OK, write(d, 5 * (long) CHUNK, pattern(512, 1), false));
            assertEquals(CHUNK, d.allocatedBytes());
        }
    }

    @Test
    void roundTripsAcrossAChunkBoundary() {
        try (MemoryBlockDevice d = new MemoryBlockDevice(8L * CHUNK, 4096)) {
            byte[] data = pattern(3 * 4096 + CHUNK, 7);
            long offset = CHUNK - 2 * 4096;
            assertEquals(IoCompletion.OK, write(d, offset, data, true));
            assertArrayEquals(data, read(d, offset, data.length));
            assertTrue(allZero(read(d, 0, (int) offset)), "bytes before the write stay zero");
            assertEquals(3L * CHUNK, d.allocatedBytes());
        }
    }

    @Test
    void aLastChunkShorterThanTheOthersWorks() {
        long size = CHUNK + 8 * 512;
        try (MemoryBlockDevice d = new MemoryBlockDevice(size, 512)) {
            byte[] data = pattern(8 * 512, 3);
            assertEquals(IoCompletion.OK, write(d, CHUNK, data, false));
            assertArrayEquals(data, read(d, CHUNK, data.length));
            assertEquals(8 * 512, d.allocatedBytes());
            assertEquals(IoCompletion.OK, deallocate(d, CHUNK, 8 * 512));
            assertEquals(0, d.allocatedBytes());
        }
    }

    @Test
    void outOfRangeAndMisalignedRequestsFailWithErange() {
        try (MemoryBlockDevice d = new MemoryBlockDevice(1 << 20, 512)) {
            assertEquals(IoCompletion.ERANGE, readErrno(d, 1 << 20, 512));
            assertEquals(IoCompletion.ERANGE, readErrno(d, (1 << 20) - 512, 1024));
            assertEquals(IoCompletion.ERANGE, readErrno(d, -512, 512));
            assertEquals(IoCompletion.ERANGE, readErrno(d, 100, 512));
            assertEquals(IoCompletion.ERANGE, readErrno(d, 0, 100));
            assertEquals(IoCompletion.ERANGE, write(d, 1 << 20, pattern(512, 0), false));
            assertEquals(IoCompletion.ERANGE, writeZeroes(d, 0, (1 << 20) + 512, false));
            assertEquals(IoCompletion.ERANGE, deallocate(d, Long.MAX_VALUE - 511, 1024));
            assertEquals(0, d.allocatedBytes());
        }
    }

    @Test
    void aSourceShorterThanTheLengthFailsWithEioAndWritesNothing() {
        try (MemoryBlockDevice d = new MemoryBlockDevice(1 << 20, 512)) {
            ByteBuf src = Unpooled.buffer(512).writeZero(512);
            try {
                DeviceCalls.Outcome o = new DeviceCalls.Outcome();
                d.write(0, 1024, src, false, null, o);
                assertEquals(IoCompletion.EIO, o.once());
            } finally {
                src.release();
            }
            assertEquals(0, d.allocatedBytes());
        }
    }

    @Test
    void deallocateAndWriteZeroesReadBackZeroesAndFreeWholeChunks() {
        try (MemoryBlockDevice d = new MemoryBlockDevice(4L * CHUNK, 512)) {
            byte[] data = pattern(4 * CHUNK, 9);
            assertEquals(IoCompletion.OK, write(d, 0, data, false));
            assertEquals(4L * CHUNK, d.allocatedBytes());

            // Partial chunk at both ends, one whole chunk in the middle.
            assertEquals(IoCompletion.OK, deallocate(d, CHUNK - 1024, CHUNK + 2048));
            assertEquals(3L * CHUNK, d.allocatedBytes());
            byte[] back = read(d, 0, 4 * CHUNK);
            for (int i = 0; i < back.length; i++) {
                boolean zeroed = i >= CHUNK - 1024 && i < 2 * CHUNK + 1024;
                assertEquals(zeroed ? 0 : data[i], back[i], "byte " + i);
            }

            assertEquals(IoCompletion.OK, writeZeroes(d, 3L * CHUNK, CHUNK, true));
            assertEquals(2L * CHUNK, d.allocatedBytes());
            assertTrue(allZero(read(d, 3L * CHUNK, CHUNK)));

            assertEquals(IoCompletion.OK, write(d, 3L * CHUNK, pattern(512, 2), false));
            assertArrayEquals(pattern(512, 2), read(d, 3L * CHUNK, 512), "a freed chunk can be written again");
        }
    }

    @Test
    void readsIntoACompositeBufferAndAdvancesItsWriterIndex() {
        try (MemoryBlockDevice d = new MemoryBlockDevice(1 << 20, 512)) {
            byte[] data = pattern(1024, 4);
            assertEquals(IoCompletion.OK, write(d, 512, data, false));
            CompositeByteBuf dst = Unpooled.compositeBuffer();
            dst.addComponent(false, Unpooled.directBuffer(512, 512));
            dst.addComponent(false, Unpooled.buffer(512, 512));
            try {
                DeviceCalls.Outcome o = new DeviceCalls.Outcome();
                d.read(512, 1024, dst, null, o);
                assertEquals(IoCompletion.OK, o.once());
                assertEquals(1024, dst.writerIndex());
                byte[] back = new byte[1024];
                dst.getBytes(0, back);
                assertArrayEquals(data, back);
            } finally {
                dst.release();
            }
        }
    }

    @Test
    void flushSucceedsAndClosedDeviceFailsWithEio() {
        MemoryBlockDevice d = new MemoryBlockDevice(1 << 20, 512);
        assertEquals(IoCompletion.OK, write(d, 0, pattern(512, 1), true));
        assertEquals(IoCompletion.OK, flush(d));
        d.close();
        assertEquals(0, d.allocatedBytes());
        assertEquals(IoCompletion.EIO, readErrno(d, 0, 512));
        assertEquals(IoCompletion.EIO, flush(d));
    }

    @Test
    void refusesABadGeometry() {
        assertThrows(IllegalArgumentException.class, () -> new MemoryBlockDevice(1 << 20, 1024));
        assertThrows(IllegalArgumentException.class, () -> new MemoryBlockDevice(1000, 512));
        assertThrows(IllegalArgumentException.class, () -> new MemoryBlockDevice(0, 512));
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void concurrentWritersOnDifferentRangesOfTheSameChunksKeepTheirData() throws Exception {
        int threads = 4;
        int rounds = 8;
        int block = 4096;
        // Thread t owns every block whose index % threads == t: all threads race to create every chunk.
        long size = 8L * CHUNK;
        int blocks = (int) (size / block);
        try (MemoryBlockDevice d = new MemoryBlockDevice(size, block)) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                CyclicBarrier start = new CyclicBarrier(threads);
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int me = t;
                    futures.add(pool.submit(() -> {
                        start.await();
                        for (int r = 0; r < rounds; r++) {
                            for (int b = me; b < blocks; b += threads) {
                                assertEquals(IoCompletion.OK, write(d, (long) b * block, pattern(block, b * rounds + r), false));
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get(60, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            for (int b = 0; b < blocks; b++) {
                assertArrayEquals(pattern(block, b * rounds + rounds - 1), read(d, (long) b * block, block), "block " + b);
            }
            assertEquals(size, d.allocatedBytes(), "one chunk each, no duplicates lost or leaked");
        }
    }
}
