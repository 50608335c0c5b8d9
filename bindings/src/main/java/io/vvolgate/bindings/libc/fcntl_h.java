package io.vvolgate.bindings.libc;

import io.vvolgate.bindings.NativeSymbols;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.vvolgate.bindings.NativeSymbols.C_INT;
import static io.vvolgate.bindings.NativeSymbols.C_LONG;
import static io.vvolgate.bindings.NativeSymbols.C_POINTER;

/**
 * {@code <fcntl.h>} with what it pulls in ({@code bits/fcntl-linux.h}, {@code linux/falloc.h}) and the
 * {@code RWF_*} flags of {@code <sys/uio.h>}: {@code open} and {@code fallocate}. Values are x86_64's
 * (O_DIRECT differs on some other architectures). Every function takes the errno capture state first.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class fcntl_h {
    private fcntl_h() {
    }

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_DSYNC = 010000;
    public static final int O_DIRECT = 040000;
    public static final int O_CLOEXEC = 02000000;

    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    /** Per-I/O O_DSYNC for pwritev2 and io_uring writes (sqe.rw_flags). */
    public static final int RWF_DSYNC = 0x02;
    public static final int RWF_SYNC = 0x04;

    private static final class open$ {
        // int open(const char *pathname, int flags, ...); the variadic mode_t is promoted to int.
        static final MethodHandle HANDLE = NativeSymbols.downcall("open",
                FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT), Linker.Option.firstVariadicArg(2));
    }

    /** {@code int open(const char *pathname, int flags, mode_t mode)}; -1 and errno on failure. */
    public static int open(MemorySegment errnoState, MemorySegment pathname, int flags, int mode) {
        try {
            return (int) open$.HANDLE.invokeExact(errnoState, pathname, flags, mode);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class fallocate$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("fallocate",
                FunctionDescriptor.of(C_INT, C_INT, C_INT, C_LONG, C_LONG));
    }

    /** {@code int fallocate(int fd, int mode, off_t offset, off_t len)}; -1 and errno on failure. */
    public static int fallocate(MemorySegment errnoState, int fd, int mode, long offset, long len) {
        try {
            return (int) fallocate$.HANDLE.invokeExact(errnoState, fd, mode, offset, len);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
