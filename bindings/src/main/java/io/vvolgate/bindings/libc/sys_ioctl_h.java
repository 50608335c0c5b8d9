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
 * {@code <sys/ioctl.h>} with the block-device requests of {@code <linux/fs.h>}: {@code ioctl(fd, request,
 * pointer)}. {@code BLKGETSIZE64} writes the capacity in bytes to a {@code uint64_t}; {@code BLKSSZGET}
 * the logical sector size to an {@code int}. Errno capture state first.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class sys_ioctl_h {
    private sys_ioctl_h() {
    }

    /** {@code _IOR(0x12, 114, size_t)}. */
    public static final long BLKGETSIZE64 = 0x80081272L;
    /** {@code _IO(0x12, 104)}. */
    public static final long BLKSSZGET = 0x1268L;
    /** {@code _IO(0x12, 123)}. */
    public static final long BLKPBSZGET = 0x127bL;

    private static final class ioctl$ {
        // int ioctl(int fd, unsigned long request, ...): one pointer argument, variadic.
        static final MethodHandle HANDLE = NativeSymbols.downcall("ioctl",
                FunctionDescriptor.of(C_INT, C_INT, C_LONG, C_POINTER), Linker.Option.firstVariadicArg(2));
    }

    public static int ioctl(MemorySegment errnoState, int fd, long request, MemorySegment arg) {
        try {
            return (int) ioctl$.HANDLE.invokeExact(errnoState, fd, request, arg);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
