package io.vvolgate.bindings;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * What every {@code *_h} class shares, in the role of jextract's generated {@code RuntimeHelper}: the
 * symbol lookup (the C library the JVM is linked against, i.e. glibc) and the errno capture state.
 *
 * <p>Every downcall here is linked with {@link Linker.Option#captureCallState captureCallState("errno")},
 * so its Java method takes a leading {@code MemorySegment errnoState} (allocate one per thread with
 * {@link #allocateErrnoState}, reuse it for every call) and {@link #errno(MemorySegment)} reads the errno
 * the call left there. jextract does not generate capture-state handles; this is the one deliberate
 * difference from its output (see SYMBOLS.md). Stateless.
 */
public final class NativeSymbols {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private NativeSymbols() {
    }

    /** Links {@code name} from the default (C library) lookup with errno capture. */
    public static MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... extra) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("symbol " + name + " not found in the C library"));
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, options, 1, extra.length);
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    /** The layout of the capture state that {@link #downcall} handles take as their first argument. */
    public static StructLayout errnoStateLayout() {
        return CAPTURE;
    }

    /** A capture state segment; one per calling thread, reused for every call. */
    public static MemorySegment allocateErrnoState(java.lang.foreign.SegmentAllocator allocator) {
        return allocator.allocate(CAPTURE);
    }

    /** The errno the last call that was given {@code state} left there (meaningful only after a failure). */
    public static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** {@code size_t}/{@code off_t}/{@code long} on LP64 Linux. */
    public static final ValueLayout.OfLong C_LONG = ValueLayout.JAVA_LONG;
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    public static final java.lang.foreign.AddressLayout C_POINTER = ValueLayout.ADDRESS;
}
