package io.vvolgate.bindings.libc;

import io.vvolgate.bindings.NativeSymbols;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.vvolgate.bindings.NativeSymbols.C_INT;
import static io.vvolgate.bindings.NativeSymbols.C_LONG;
import static io.vvolgate.bindings.NativeSymbols.C_POINTER;

/** {@code <sys/mman.h>}: mmap and munmap, used to map the io_uring rings. Errno capture state first. */
@SuppressWarnings("checkstyle:TypeName")
public final class sys_mman_h {
    private sys_mman_h() {
    }

    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_POPULATE = 0x08000;
    /** {@code (void *) -1}. */
    public static final long MAP_FAILED = -1L;

    private static final class mmap$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("mmap",
                FunctionDescriptor.of(C_POINTER, C_POINTER, C_LONG, C_INT, C_INT, C_INT, C_LONG));
    }

    /**
     * {@code void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)}. The result is a
     * zero-length segment (compare its address with {@link #MAP_FAILED}); reinterpret it to {@code length}.
     */
    public static MemorySegment mmap(MemorySegment errnoState, MemorySegment addr, long length, int prot, int flags,
                                     int fd, long offset) {
        try {
            return (MemorySegment) mmap$.HANDLE.invokeExact(errnoState, addr, length, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class munmap$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("munmap",
                FunctionDescriptor.of(C_INT, C_POINTER, C_LONG));
    }

    public static int munmap(MemorySegment errnoState, MemorySegment addr, long length) {
        try {
            return (int) munmap$.HANDLE.invokeExact(errnoState, addr, length);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
