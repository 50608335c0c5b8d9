package io.vvolgate.bindings.libc;

import io.vvolgate.bindings.NativeSymbols;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.vvolgate.bindings.NativeSymbols.C_INT;
import static io.vvolgate.bindings.NativeSymbols.C_LONG;

/**
 * {@code <sys/eventfd.h>}: an eventfd is how another thread wakes a reactor blocked in
 * {@code io_uring_enter} (the reactor keeps a read of it in its ring). Errno capture state first.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class sys_eventfd_h {
    private sys_eventfd_h() {
    }

    public static final int EFD_NONBLOCK = 04000;
    public static final int EFD_CLOEXEC = 02000000;

    private static final class eventfd$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("eventfd", FunctionDescriptor.of(C_INT, C_INT, C_INT));
    }

    /** {@code int eventfd(unsigned int initval, int flags)}. */
    public static int eventfd(MemorySegment errnoState, int initval, int flags) {
        try {
            return (int) eventfd$.HANDLE.invokeExact(errnoState, initval, flags);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class eventfd_write$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("eventfd_write",
                FunctionDescriptor.of(C_INT, C_INT, C_LONG));
    }

    /** {@code int eventfd_write(int fd, eventfd_t value)}. */
    public static int eventfd_write(MemorySegment errnoState, int fd, long value) {
        try {
            return (int) eventfd_write$.HANDLE.invokeExact(errnoState, fd, value);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
