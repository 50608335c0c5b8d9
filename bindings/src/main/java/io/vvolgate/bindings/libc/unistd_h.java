package io.vvolgate.bindings.libc;

import io.vvolgate.bindings.NativeSymbols;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.vvolgate.bindings.NativeSymbols.C_INT;
import static io.vvolgate.bindings.NativeSymbols.C_LONG;
import static io.vvolgate.bindings.NativeSymbols.C_POINTER;

/**
 * {@code <unistd.h>}: close, fsync, fdatasync, pread, pwrite, sysconf. Every function takes the errno
 * capture state first and returns what the C function returns (-1 and errno on failure).
 */
@SuppressWarnings("checkstyle:TypeName")
public final class unistd_h {
    private unistd_h() {
    }

    public static final int _SC_PAGESIZE = 30;

    private static final class close$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("close", FunctionDescriptor.of(C_INT, C_INT));
    }

    public static int close(MemorySegment errnoState, int fd) {
        try {
            return (int) close$.HANDLE.invokeExact(errnoState, fd);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class fsync$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("fsync", FunctionDescriptor.of(C_INT, C_INT));
    }

    public static int fsync(MemorySegment errnoState, int fd) {
        try {
            return (int) fsync$.HANDLE.invokeExact(errnoState, fd);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class fdatasync$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("fdatasync", FunctionDescriptor.of(C_INT, C_INT));
    }

    public static int fdatasync(MemorySegment errnoState, int fd) {
        try {
            return (int) fdatasync$.HANDLE.invokeExact(errnoState, fd);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class pread$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("pread",
                FunctionDescriptor.of(C_LONG, C_INT, C_POINTER, C_LONG, C_LONG));
    }

    /** {@code ssize_t pread(int fd, void *buf, size_t count, off_t offset)}. */
    public static long pread(MemorySegment errnoState, int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) pread$.HANDLE.invokeExact(errnoState, fd, buf, count, offset);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class pwrite$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("pwrite",
                FunctionDescriptor.of(C_LONG, C_INT, C_POINTER, C_LONG, C_LONG));
    }

    /** {@code ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)}. */
    public static long pwrite(MemorySegment errnoState, int fd, MemorySegment buf, long count, long offset) {
        try {
            return (long) pwrite$.HANDLE.invokeExact(errnoState, fd, buf, count, offset);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class sysconf$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("sysconf", FunctionDescriptor.of(C_LONG, C_INT));
    }

    public static long sysconf(MemorySegment errnoState, int name) {
        try {
            return (long) sysconf$.HANDLE.invokeExact(errnoState, name);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
