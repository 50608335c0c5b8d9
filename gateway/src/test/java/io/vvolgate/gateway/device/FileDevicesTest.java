package io.vvolgate.gateway.device;

import io.vvolgate.gateway.device.FileDevices.Backend;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The file backend choice: io_uring by default, blocking on request, the file's own errors not hidden by it. */
@ExtendWith(LeakFailingExtension.class)
@Timeout(30)
class FileDevicesTest {
    @TempDir
    Path dir;

    @Test
    void ioUringIsTheDefaultAndServesTheFile() throws IOException {
        String before = System.clearProperty(FileDevices.PROPERTY);
        try {
            assertEquals(Backend.IO_URING, FileDevices.configured());
            try (BlockDevice d = FileDevices.open(dir.resolve("a.img"), 1 << 20, 512)) {
                // This machine's kernel has io_uring (IoUringBlockDeviceTest relies on it as well).
                assertInstanceOf(IoUringBlockDevice.class, d);
                assertEquals(1 << 20, d.size());
            }
        } finally {
            if (before != null) {
                System.setProperty(FileDevices.PROPERTY, before);
            }
        }
    }

    @Test
    void blockingOpensAFileBlockDevice() throws IOException {
        try (BlockDevice d = FileDevices.open(Backend.BLOCKING, dir.resolve("b.img"), 1 << 20, 512)) {
            assertInstanceOf(FileBlockDevice.class, d);
        }
        assertTrue(Files.size(dir.resolve("b.img")) == 1 << 20);
    }

    @Test
    void theFilesOwnProblemIsReportedNotPapered() throws IOException {
        Path wrongSize = dir.resolve("c.img");
        Files.write(wrongSize, new byte[4096]);
        IOException e = assertThrows(IOException.class, () -> FileDevices.open(Backend.IO_URING, wrongSize, 1 << 20, 512));
        assertTrue(e.getMessage().contains("4096 bytes"), e.getMessage());
    }

    @Test
    void namesAreParsed() {
        assertEquals(Backend.IO_URING, Backend.parse("io_uring"));
        assertEquals(Backend.BLOCKING, Backend.parse(" Blocking "));
        assertEquals("io_uring", Backend.IO_URING.configName());
        assertThrows(IllegalArgumentException.class, () -> Backend.parse("aio"));
    }
}
