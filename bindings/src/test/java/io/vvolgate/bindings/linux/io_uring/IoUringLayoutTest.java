package io.vvolgate.bindings.linux.io_uring;

import io.vvolgate.bindings.NativeSymbols;
import io.vvolgate.bindings.libc.fcntl_h;
import io.vvolgate.bindings.libc.sys_eventfd_h;
import io.vvolgate.bindings.libc.sys_ioctl_h;
import io.vvolgate.bindings.libc.sys_mman_h;
import io.vvolgate.bindings.libc.unistd_h;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bindings agree with the kernel's ABI: struct sizes and field offsets, and the constants. Two sources:
 * the values printed by gcc on the Linux 6.1 / glibc 2.36 headers when the bindings were written (below,
 * always checked), and, when gcc and the headers are on this machine, the same program compiled now.
 */
class IoUringLayoutTest {

    /** What {@code off.c} printed (SYMBOLS.md) on Debian 12: linux-libc-dev 6.1, glibc 2.36, gcc 12.2. */
    static final Map<String, Long> RECORDED = new LinkedHashMap<>();

    static {
        long[] v = {120, 0, 4, 8, 12, 16, 20, 24, 28, 40, 80,
            40, 0, 4, 8, 12, 16, 20, 24, 28, 32,
            40, 0, 4, 8, 12, 16, 20, 24, 28, 32,
            64, 0, 1, 2, 4, 8, 16, 24, 28, 32, 40, 42, 44, 48,
            16, 0, 8, 12};
        String[] k = {"sizeof io_uring_params", "io_uring_params.sq_entries", "io_uring_params.cq_entries",
            "io_uring_params.flags", "io_uring_params.sq_thread_cpu", "io_uring_params.sq_thread_idle",
            "io_uring_params.features", "io_uring_params.wq_fd", "io_uring_params.resv", "io_uring_params.sq_off",
            "io_uring_params.cq_off",
            "sizeof io_sqring_offsets", "io_sqring_offsets.head", "io_sqring_offsets.tail", "io_sqring_offsets.ring_mask",
            "io_sqring_offsets.ring_entries", "io_sqring_offsets.flags", "io_sqring_offsets.dropped",
            "io_sqring_offsets.array", "io_sqring_offsets.resv1", "io_sqring_offsets.resv2",
            "sizeof io_cqring_offsets", "io_cqring_offsets.head", "io_cqring_offsets.tail", "io_cqring_offsets.ring_mask",
            "io_cqring_offsets.ring_entries", "io_cqring_offsets.overflow", "io_cqring_offsets.cqes",
            "io_cqring_offsets.flags", "io_cqring_offsets.resv1", "io_cqring_offsets.resv2",
            "sizeof io_uring_sqe", "io_uring_sqe.opcode", "io_uring_sqe.flags", "io_uring_sqe.ioprio", "io_uring_sqe.fd",
            "io_uring_sqe.off", "io_uring_sqe.addr", "io_uring_sqe.len", "io_uring_sqe.rw_flags", "io_uring_sqe.user_data",
            "io_uring_sqe.buf_index", "io_uring_sqe.personality", "io_uring_sqe.splice_fd_in", "io_uring_sqe.addr3",
            "sizeof io_uring_cqe", "io_uring_cqe.user_data", "io_uring_cqe.res", "io_uring_cqe.flags"};
        for (int i = 0; i < k.length; i++) {
            RECORDED.put(k[i], v[i]);
        }
    }

    /** The Java side: sizes and offsets computed from the bindings' layouts. */
    static Map<String, Long> fromBindings() {
        Map<String, Long> m = new HashMap<>();
        GroupLayout[] layouts = {io_uring_params.layout(), io_sqring_offsets.layout(), io_cqring_offsets.layout(),
            io_uring_sqe.layout(), io_uring_cqe.layout()};
        for (GroupLayout g : layouts) {
            String name = g.name().orElseThrow();
            m.put("sizeof " + name, g.byteSize());
            for (MemoryLayout member : g.memberLayouts()) {
                String field = member.name().orElseThrow();
                m.put(name + "." + field, g.byteOffset(MemoryLayout.PathElement.groupElement(field)));
            }
        }
        return m;
    }

    /** Constants the C program prints, with the Java value each must equal. */
    static Map<String, Long> constants() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("__NR_io_uring_setup", io_uring_h.__NR_io_uring_setup);
        m.put("__NR_io_uring_enter", io_uring_h.__NR_io_uring_enter);
        m.put("__NR_io_uring_register", io_uring_h.__NR_io_uring_register);
        m.put("IORING_OFF_SQ_RING", io_uring_h.IORING_OFF_SQ_RING);
        m.put("IORING_OFF_CQ_RING", io_uring_h.IORING_OFF_CQ_RING);
        m.put("IORING_OFF_SQES", io_uring_h.IORING_OFF_SQES);
        m.put("IORING_SETUP_CQSIZE", (long) io_uring_h.IORING_SETUP_CQSIZE);
        m.put("IORING_SETUP_CLAMP", (long) io_uring_h.IORING_SETUP_CLAMP);
        m.put("IORING_SETUP_SINGLE_ISSUER", (long) io_uring_h.IORING_SETUP_SINGLE_ISSUER);
        m.put("IORING_FEAT_SINGLE_MMAP", (long) io_uring_h.IORING_FEAT_SINGLE_MMAP);
        m.put("IORING_FEAT_NODROP", (long) io_uring_h.IORING_FEAT_NODROP);
        m.put("IORING_ENTER_GETEVENTS", (long) io_uring_h.IORING_ENTER_GETEVENTS);
        m.put("IORING_OP_FSYNC", (long) io_uring_h.IORING_OP_FSYNC);
        m.put("IORING_OP_READ_FIXED", (long) io_uring_h.IORING_OP_READ_FIXED);
        m.put("IORING_OP_WRITE_FIXED", (long) io_uring_h.IORING_OP_WRITE_FIXED);
        m.put("IORING_OP_FALLOCATE", (long) io_uring_h.IORING_OP_FALLOCATE);
        m.put("IORING_OP_READ", (long) io_uring_h.IORING_OP_READ);
        m.put("IORING_OP_WRITE", (long) io_uring_h.IORING_OP_WRITE);
        m.put("IORING_FSYNC_DATASYNC", (long) io_uring_h.IORING_FSYNC_DATASYNC);
        m.put("IORING_REGISTER_BUFFERS", (long) io_uring_h.IORING_REGISTER_BUFFERS);
        m.put("IORING_REGISTER_FILES", (long) io_uring_h.IORING_REGISTER_FILES);
        m.put("O_RDWR", (long) fcntl_h.O_RDWR);
        m.put("O_CREAT", (long) fcntl_h.O_CREAT);
        m.put("O_DIRECT", (long) fcntl_h.O_DIRECT);
        m.put("O_CLOEXEC", (long) fcntl_h.O_CLOEXEC);
        m.put("O_DSYNC", (long) fcntl_h.O_DSYNC);
        m.put("FALLOC_FL_KEEP_SIZE", (long) fcntl_h.FALLOC_FL_KEEP_SIZE);
        m.put("FALLOC_FL_PUNCH_HOLE", (long) fcntl_h.FALLOC_FL_PUNCH_HOLE);
        m.put("FALLOC_FL_ZERO_RANGE", (long) fcntl_h.FALLOC_FL_ZERO_RANGE);
        m.put("RWF_DSYNC", (long) fcntl_h.RWF_DSYNC);
        m.put("BLKGETSIZE64", sys_ioctl_h.BLKGETSIZE64);
        m.put("BLKSSZGET", sys_ioctl_h.BLKSSZGET);
        m.put("PROT_READ", (long) sys_mman_h.PROT_READ);
        m.put("PROT_WRITE", (long) sys_mman_h.PROT_WRITE);
        m.put("MAP_SHARED", (long) sys_mman_h.MAP_SHARED);
        m.put("MAP_POPULATE", (long) sys_mman_h.MAP_POPULATE);
        m.put("EFD_CLOEXEC", (long) sys_eventfd_h.EFD_CLOEXEC);
        m.put("EFD_NONBLOCK", (long) sys_eventfd_h.EFD_NONBLOCK);
        m.put("_SC_PAGESIZE", (long) unistd_h._SC_PAGESIZE);
        return m;
    }

    @Test
    void structLayoutsMatchTheRecordedKernelLayouts() {
        assertEquals(64, io_uring_sqe.sizeof());
        assertEquals(16, io_uring_cqe.sizeof());
        assertEquals(120, io_uring_params.sizeof());
        Map<String, Long> java = fromBindings();
        RECORDED.forEach((key, value) -> assertEquals(value, java.get(key), key));
        assertEquals(io_uring_sqe.rw_flags$OFFSET, io_uring_sqe.fsync_flags$OFFSET);
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void layoutsAndConstantsMatchWhatGccSaysOnThisMachine(@TempDir Path dir) throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")) && Files.exists(Path.of("/usr/include/linux/io_uring.h")),
                "gcc and linux/io_uring.h are needed for this check");
        StringBuilder c = new StringBuilder("""
                #define _GNU_SOURCE
                #include <stdio.h>
                #include <stddef.h>
                #include <fcntl.h>
                #include <unistd.h>
                #include <sys/mman.h>
                #include <sys/ioctl.h>
                #include <sys/syscall.h>
                #include <sys/eventfd.h>
                #include <linux/fs.h>
                #include <linux/falloc.h>
                #include <linux/io_uring.h>
                int main(void) {
                """);
        for (String key : RECORDED.keySet()) {
            if (key.startsWith("sizeof ")) {
                c.append("printf(\"%s %zu\\n\", \"").append(key).append("\", sizeof(struct ")
                        .append(key.substring(7)).append("));\n");
            } else {
                String[] parts = key.split("\\.");
                c.append("printf(\"%s %zu\\n\", \"").append(key).append("\", offsetof(struct ")
                        .append(parts[0]).append(", ").append(parts[1]).append("));\n");
            }
        }
        for (String constant : constants().keySet()) {
            c.append("printf(\"%s %lld\\n\", \"").append(constant).append("\", (long long)(").append(constant).append("));\n");
        }
        c.append("return 0; }\n");
        Path source = dir.resolve("abi.c");
        Files.writeString(source, c);
        Path binary = dir.resolve("abi");
        Process gcc = new ProcessBuilder("gcc", "-o", binary.toString(), source.toString()).redirectErrorStream(true).start();
        String gccOut = new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, gcc.waitFor(), gccOut);
        Process run = new ProcessBuilder(binary.toString()).start();
        String out = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, run.waitFor());
        Map<String, Long> expected = new HashMap<>(fromBindings());
        expected.putAll(constants());
        int checked = 0;
        for (String line : out.split("\n")) {
            int space = line.lastIndexOf(' ');
            String key = line.substring(0, space);
            assertEquals(Long.parseLong(line.substring(space + 1)), expected.get(key), key);
            checked++;
        }
        assertEquals(RECORDED.size() + constants().size(), checked);
    }

    @Test
    void theKernelAcceptsTheParamsAndTheSyscallWrappersReportErrno() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment errno = NativeSymbols.allocateErrnoState(arena);
            MemorySegment params = io_uring_params.allocate(arena);
            int fd = io_uring_h.io_uring_setup(errno, 8, params);
            Assumptions.assumeTrue(fd >= 0, "io_uring unavailable here, errno " + NativeSymbols.errno(errno));
            try {
                assertEquals(8, io_uring_params.sq_entries(params));
                assertEquals(16, io_uring_params.cq_entries(params));
                assertTrue((io_uring_params.features(params) & io_uring_h.IORING_FEAT_NODROP) != 0);
            } finally {
                unistd_h.close(errno, fd);
            }
            // Zero entries is refused with EINVAL, and the capture state says so.
            assertEquals(-1, io_uring_h.io_uring_setup(errno, 0, io_uring_params.allocate(arena)));
            assertEquals(22, NativeSymbols.errno(errno));
        }
    }
}
