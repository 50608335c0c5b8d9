package io.vvolgate.gateway.device;

import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class FileBlockDeviceTest {

    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    @Test
    void createsTheImageSparseAtItsSize() throws IOException {
        Path image = dir.resolve("ns1.img");
        try (FileBlockDevice d = FileBlockDevice.open(image, 1L << 30, 512)) {
            assertEquals(1L << 30, d.size());
            assertEquals(512, d.blockSize());
            assertTrue(d.volatileWriteCache(), "the page cache is a volatile write cache");
            assertTrue(allZero(read(d, (1L << 30) - 4096, 4096)));
        }
        assertEquals(1L << 30, Files.size(image));
        // A sparse 1 GiB file: st_blocks is tiny. NIO does not show it, so ask du.
        assertTrue(diskUsageKib(image) < 1024, "the image must be sparse, du says " + diskUsageKib(image) + " KiB");
    }

    @Test
    void aReadOnlyOpenReadsTheImageAndRefusesEveryChange() throws IOException {
        Path image = dir.resolve("look.img");
        byte[] data = pattern(8192, 3);
        try (FileBlockDevice d = FileBlockDevice.open(image, 4 * MIB, 512)) {
            assertEquals(IoCompletion.OK, write(d, 4096, data, true));
        }
        java.nio.file.attribute.FileTime old = java.nio.file.attribute.FileTime.fromMillis(1_600_000_000_000L);
        Files.setLastModifiedTime(image, old);
        try (FileBlockDevice d = FileBlockDevice.openReadOnly(image, 512)) {
            assertEquals(4 * MIB, d.size(), "its size is the file's");
            assertTrue(d.readOnly());
            assertArrayEquals(data, read(d, 4096, 8192));
            assertEquals(IoCompletion.EROFS, write(d, 0, pattern(512, 4), true));
            assertEquals(IoCompletion.EROFS, writeZeroes(d, 0, 4096, false));
            assertEquals(IoCompletion.EROFS, deallocate(d, 0, 4096));
            assertEquals(IoCompletion.OK, flush(d));
        }
        assertArrayEquals(data, java.util.Arrays.copyOfRange(Files.readAllBytes(image), 4096, 4096 + 8192));
        assertEquals(old, Files.getLastModifiedTime(image), "never written");
        assertThrows(IOException.class, () -> FileBlockDevice.openReadOnly(dir.resolve("missing.img"), 512));
        assertTrue(!Files.exists(dir.resolve("missing.img")), "nothing is created");
    }

    @Test
    void roundTripsAndPersistsAcrossReopen() throws IOException {
        Path image = dir.resolve("ns1.img");
        byte[] data = pattern(64 * 1024, 5);
        try (FileBlockDevice d = FileBlockDevice.open(image, 4 * MIB, 4096)) {
            assertEquals(IoCompletion.OK, write(d, MIB + 8192, data, false));
            assertArrayEquals(data, read(d, MIB + 8192, data.length));
            assertTrue(allZero(read(d, 0, 8192)));
        }
        try (FileBlockDevice d = FileBlockDevice.open(image, 4 * MIB, 4096)) {
            assertArrayEquals(data, read(d, MIB + 8192, data.length));
        }
    }

    @Test
    void fuaWriteAndFlushSucceed() throws IOException {
        Path image = dir.resolve("ns1.img");
        try (FileBlockDevice d = FileBlockDevice.open(image, MIB, 512)) {
            assertEquals(IoCompletion.OK, write(d, 0, pattern(512, 1), true));
            assertEquals(IoCompletion.OK, write(d, 512, pattern(512, 2), false));
            assertEquals(IoCompletion.OK, flush(d));
            assertEquals(IoCompletion.OK, writeZeroes(d, 1024, 512, true));
        }
        byte[] onDisk = Files.readAllBytes(image);
        byte[] expected = new byte[1024];
        System.arraycopy(pattern(512, 1), 0, expected, 0, 512);
        System.arraycopy(pattern(512, 2), 0, expected, 512, 512);
        assertArrayEquals(expected, java.util.Arrays.copyOf(onDisk, 1024));
    }

    @Test
    void refusesAnExistingImageOfAnotherSize() throws IOException {
        Path image = dir.resolve("ns1.img");
        FileBlockDevice.open(image, 2 * MIB, 512).close();
        IOException e = assertThrows(IOException.class, () -> FileBlockDevice.open(image, 4 * MIB, 512));
        assertTrue(e.getMessage().contains(image.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("2097152 bytes"), e.getMessage());
        assertTrue(e.getMessage().contains("not supported"), e.getMessage());
        assertEquals(2 * MIB, Files.size(image), "a refused image is left alone");
    }

    @Test
    void sizesAnEmptyFileLeftByAnInterruptedCreation() throws IOException {
        Path image = Files.createFile(dir.resolve("ns1.img"));
        try (FileBlockDevice d = FileBlockDevice.open(image, MIB, 512)) {
            assertEquals(MIB, d.size());
        }
        assertEquals(MIB, Files.size(image));
    }

    @Test
    void refusesAMissingDirectoryAndADirectory() {
        IOException missing = assertThrows(IOException.class,
                () -> FileBlockDevice.open(dir.resolve("nope/ns1.img"), MIB, 512));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
        IOException notFile = assertThrows(IOException.class, () -> FileBlockDevice.open(dir, MIB, 512));
        assertTrue(notFile.getMessage().contains("neither a regular file nor a block device"), notFile.getMessage());
    }

    @Test
    void outOfRangeAndMisalignedRequestsFailWithErange() throws IOException {
        try (FileBlockDevice d = FileBlockDevice.open(dir.resolve("ns1.img"), MIB, 512)) {
            assertEquals(IoCompletion.ERANGE, readErrno(d, MIB, 512));
            assertEquals(IoCompletion.ERANGE, readErrno(d, MIB - 512, 1024));
            assertEquals(IoCompletion.ERANGE, readErrno(d, 256, 512));
            assertEquals(IoCompletion.ERANGE, readErrno(d, 0, 100));
            assertEquals(IoCompletion.ERANGE, write(d, -512, pattern(512, 0), false));
            assertEquals(IoCompletion.ERANGE, writeZeroes(d, 0, 2 * MIB, false));
            assertEquals(IoCompletion.ERANGE, deallocate(d, 512, Long.MAX_VALUE));
        }
        assertEquals(MIB, Files.size(dir.resolve("ns1.img")), "nothing was written past the end");
    }

    @Test
    void deallocateAndWriteZeroesReadBackZeroes() throws IOException {
        long size = 3 * MIB;
        try (FileBlockDevice d = FileBlockDevice.open(dir.resolve("ns1.img"), size, 512)) {
            byte[] data = pattern((int) size, 8);
            assertEquals(IoCompletion.OK, write(d, 0, data, false));
            // Longer than the zero buffer, and not a multiple of it.
            assertEquals(IoCompletion.OK, deallocate(d, 512, FileBlockDevice.ZERO_CHUNK + 1024));
            assertEquals(IoCompletion.OK, writeZeroes(d, 2 * MIB, 4096, false));
            byte[] back = read(d, 0, (int) size);
            for (int i = 0; i < back.length; i++) {
                boolean zeroed = (i >= 512 && i < 512 + FileBlockDevice.ZERO_CHUNK + 1024)
                        || (i >= 2 * MIB && i < 2 * MIB + 4096);
                if (back[i] != (zeroed ? 0 : data[i])) {
                    throw new AssertionError("byte " + i + ": " + back[i]);
                }
            }
        }
    }

    @Test
    void aClosedDeviceFailsWithEioInsteadOfThrowing() throws IOException {
        FileBlockDevice d = FileBlockDevice.open(dir.resolve("ns1.img"), MIB, 512);
        d.close();
        assertEquals(IoCompletion.EIO, readErrno(d, 0, 512));
        assertEquals(IoCompletion.EIO, write(d, 0, pattern(512, 0), true));
        assertEquals(IoCompletion.EIO, flush(d));
        assertEquals(IoCompletion.EIO, writeZeroes(d, 0, 512, false));
        d.close(); // twice is harmless
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void concurrentWritersOnDifferentRangesKeepTheirData() throws Exception {
        int threads = 4;
        int block = 4096;
        int blocks = 1024;
        try (FileBlockDevice d = FileBlockDevice.open(dir.resolve("ns1.img"), (long) blocks * block, block)) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                CyclicBarrier start = new CyclicBarrier(threads);
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int me = t;
                    futures.add(pool.submit(() -> {
                        start.await();
                        for (int b = me; b < blocks; b += threads) {
                            assertEquals(IoCompletion.OK, write(d, (long) b * block, pattern(block, b), b % 16 == 0));
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
                assertArrayEquals(pattern(block, b), read(d, (long) b * block, block), "block " + b);
            }
        }
    }

    private static long diskUsageKib(Path file) throws IOException {
        try {
            Process du = new ProcessBuilder("du", "-k", file.toString()).redirectErrorStream(true).start();
            String out = new String(du.getInputStream().readAllBytes()).trim();
            du.waitFor();
            return Long.parseLong(out.split("\\s+")[0]);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
