package io.vvolgate.bindings.libc;

import io.vvolgate.bindings.NativeSymbols;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The libc bindings do what the C functions do, and errno comes back through the capture state. */
class LibcTest {

    @TempDir
    Path dir;

    @Test
    void openWritesReadsPunchesAndCloses() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = NativeSymbols.allocateErrnoState(arena);
            Path file = dir.resolve("f");
            int fd = fcntl_h.open(errno, arena.allocateFrom(file.toString()),
                    fcntl_h.O_RDWR | fcntl_h.O_CREAT | fcntl_h.O_CLOEXEC, 0644);
            assertTrue(fd >= 0, "open: errno " + NativeSymbols.errno(errno));
            MemorySegment buf = arena.allocate(8192, 4096);
            buf.fill((byte) 7);
            assertEquals(8192, unistd_h.pwrite(errno, fd, buf, 8192, 0));
            assertEquals(0, unistd_h.fdatasync(errno, fd));
            int punched = fcntl_h.fallocate(errno, fd, fcntl_h.FALLOC_FL_PUNCH_HOLE | fcntl_h.FALLOC_FL_KEEP_SIZE, 0, 4096);
            assertTrue(punched == 0 || NativeSymbols.errno(errno) == errno_h.EOPNOTSUPP);
            MemorySegment back = arena.allocate(8192, 4096);
            assertEquals(8192, unistd_h.pread(errno, fd, back, 8192, 0));
            if (punched == 0) {
                assertEquals(0, back.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
            }
            assertEquals(7, back.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4096));
            assertEquals(0, unistd_h.fsync(errno, fd));
            assertEquals(0, unistd_h.close(errno, fd));
            assertEquals(8192, Files.size(file));
            assertEquals(-1, unistd_h.close(errno, fd));
            assertEquals(errno_h.EBADF, NativeSymbols.errno(errno));
            assertTrue(unistd_h.sysconf(errno, unistd_h._SC_PAGESIZE) >= 4096);
            assertTrue(string_h.strerror(errno_h.EINVAL).contains("errno 22"));
        }
    }

    @Test
    void openOfAMissingFileReportsEnoent() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = NativeSymbols.allocateErrnoState(arena);
            assertEquals(-1, fcntl_h.open(errno, arena.allocateFrom(dir.resolve("missing").toString()), fcntl_h.O_RDWR, 0));
            assertEquals(errno_h.ENOENT, NativeSymbols.errno(errno));
        }
    }

    @Test
    void mmapAndEventfdWork() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = NativeSymbols.allocateErrnoState(arena);
            int efd = sys_eventfd_h.eventfd(errno, 0, sys_eventfd_h.EFD_CLOEXEC);
            assertTrue(efd >= 0);
            assertEquals(0, sys_eventfd_h.eventfd_write(errno, efd, 3));
            MemorySegment counter = arena.allocate(8, 8);
            // read(2) via pread is not allowed on an eventfd (ESPIPE), which also shows errno capture.
            assertEquals(-1, unistd_h.pread(errno, efd, counter, 8, 0));
            assertEquals(29, NativeSymbols.errno(errno)); // ESPIPE
            assertEquals(0, unistd_h.close(errno, efd));
            int fd = fcntl_h.open(errno, arena.allocateFrom(dir.resolve("m").toString()),
                    fcntl_h.O_RDWR | fcntl_h.O_CREAT, 0644);
            assertTrue(fd >= 0);
            MemorySegment none = sys_mman_h.mmap(errno, MemorySegment.NULL, 4096,
                    sys_mman_h.PROT_READ | sys_mman_h.PROT_WRITE, sys_mman_h.MAP_SHARED, -1, 0);
            assertEquals(sys_mman_h.MAP_FAILED, none.address(), "MAP_SHARED without a file descriptor fails");
            unistd_h.close(errno, fd);
        }
    }
}
