package io.vvolgate.bindings.linux.io_uring;

import io.vvolgate.bindings.NativeSymbols;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.vvolgate.bindings.NativeSymbols.C_INT;
import static io.vvolgate.bindings.NativeSymbols.C_LONG;
import static io.vvolgate.bindings.NativeSymbols.C_POINTER;

/**
 * {@code <linux/io_uring.h>}: the constants of the io_uring ABI, and the three io_uring system calls.
 *
 * <p>The kernel header declares no functions, and glibc 2.36 has no wrappers, so the calls go through
 * glibc's {@code long syscall(long number, ...)} with the x86_64 numbers 425/426/427. Every variadic
 * argument is passed as a {@code long}, which is what glibc's {@code syscall} reads; the kernel truncates
 * to the declared {@code u32}/{@code int}. They return -1 and set errno on failure (the capture state,
 * first argument). The rings themselves are mapped with {@code mmap} and read and written from Java; see
 * {@link io_uring_params}, {@link io_sqring_offsets}, {@link io_cqring_offsets}, {@link io_uring_sqe},
 * {@link io_uring_cqe}.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class io_uring_h {
    private io_uring_h() {
    }

    public static final long __NR_io_uring_setup = 425;
    public static final long __NR_io_uring_enter = 426;
    public static final long __NR_io_uring_register = 427;

    // mmap offsets
    public static final long IORING_OFF_SQ_RING = 0L;
    public static final long IORING_OFF_CQ_RING = 0x8000000L;
    public static final long IORING_OFF_SQES = 0x10000000L;

    // io_uring_params.flags
    public static final int IORING_SETUP_IOPOLL = 1;
    public static final int IORING_SETUP_SQPOLL = 1 << 1;
    public static final int IORING_SETUP_CQSIZE = 1 << 3;
    public static final int IORING_SETUP_CLAMP = 1 << 4;
    public static final int IORING_SETUP_SUBMIT_ALL = 1 << 7;
    public static final int IORING_SETUP_COOP_TASKRUN = 1 << 8;
    public static final int IORING_SETUP_SINGLE_ISSUER = 1 << 12;

    // io_uring_params.features
    public static final int IORING_FEAT_SINGLE_MMAP = 1;
    public static final int IORING_FEAT_NODROP = 1 << 1;
    public static final int IORING_FEAT_SUBMIT_STABLE = 1 << 2;
    public static final int IORING_FEAT_RW_CUR_POS = 1 << 3;
    public static final int IORING_FEAT_EXT_ARG = 1 << 8;

    // io_uring_enter flags
    public static final int IORING_ENTER_GETEVENTS = 1;

    // sq ring flags
    public static final int IORING_SQ_NEED_WAKEUP = 1;
    public static final int IORING_SQ_CQ_OVERFLOW = 1 << 1;

    // opcodes (enum io_uring_op)
    public static final byte IORING_OP_NOP = 0;
    public static final byte IORING_OP_READV = 1;
    public static final byte IORING_OP_WRITEV = 2;
    public static final byte IORING_OP_FSYNC = 3;
    public static final byte IORING_OP_READ_FIXED = 4;
    public static final byte IORING_OP_WRITE_FIXED = 5;
    public static final byte IORING_OP_FALLOCATE = 17;
    public static final byte IORING_OP_CLOSE = 19;
    public static final byte IORING_OP_READ = 22;
    public static final byte IORING_OP_WRITE = 23;

    // sqe.flags
    public static final byte IOSQE_FIXED_FILE = 1;
    public static final byte IOSQE_IO_DRAIN = 1 << 1;
    public static final byte IOSQE_IO_LINK = 1 << 2;

    // sqe.fsync_flags
    public static final int IORING_FSYNC_DATASYNC = 1;

    // io_uring_register opcodes
    public static final int IORING_REGISTER_BUFFERS = 0;
    public static final int IORING_UNREGISTER_BUFFERS = 1;
    public static final int IORING_REGISTER_FILES = 2;
    public static final int IORING_UNREGISTER_FILES = 3;

    private static final class io_uring_setup$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("syscall",
                FunctionDescriptor.of(C_LONG, C_LONG, C_LONG, C_POINTER), Linker.Option.firstVariadicArg(1));
    }

    /** {@code int io_uring_setup(u32 entries, struct io_uring_params *p)}: the ring's fd, or -1 and errno. */
    public static int io_uring_setup(MemorySegment errnoState, int entries, MemorySegment params) {
        try {
            return (int) (long) io_uring_setup$.HANDLE.invokeExact(errnoState, __NR_io_uring_setup,
                    Integer.toUnsignedLong(entries), params);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class io_uring_enter$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("syscall",
                FunctionDescriptor.of(C_LONG, C_LONG, C_LONG, C_LONG, C_LONG, C_LONG, C_POINTER, C_LONG),
                Linker.Option.firstVariadicArg(1));
    }

    /**
     * {@code int io_uring_enter(unsigned int fd, u32 to_submit, u32 min_complete, u32 flags, const void *arg,
     * size_t argsz)}: the number of SQEs consumed, or -1 and errno.
     */
    public static int io_uring_enter(MemorySegment errnoState, int fd, int toSubmit, int minComplete, int flags,
                                     MemorySegment arg, long argsz) {
        try {
            return (int) (long) io_uring_enter$.HANDLE.invokeExact(errnoState, __NR_io_uring_enter, (long) fd,
                    Integer.toUnsignedLong(toSubmit), Integer.toUnsignedLong(minComplete),
                    Integer.toUnsignedLong(flags), arg, argsz);
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }

    private static final class io_uring_register$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("syscall",
                FunctionDescriptor.of(C_LONG, C_LONG, C_LONG, C_LONG, C_POINTER, C_LONG),
                Linker.Option.firstVariadicArg(1));
    }

    /** {@code int io_uring_register(unsigned int fd, unsigned int opcode, void *arg, unsigned int nr_args)}. */
    public static int io_uring_register(MemorySegment errnoState, int fd, int opcode, MemorySegment arg, int nrArgs) {
        try {
            return (int) (long) io_uring_register$.HANDLE.invokeExact(errnoState, __NR_io_uring_register,
                    (long) fd, Integer.toUnsignedLong(opcode), arg, Integer.toUnsignedLong(nrArgs));
        } catch (Throwable t) {
            throw new AssertionError("should not reach here", t);
        }
    }
}
