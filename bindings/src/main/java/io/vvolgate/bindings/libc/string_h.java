package io.vvolgate.bindings.libc;

import io.vvolgate.bindings.NativeSymbols;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static io.vvolgate.bindings.NativeSymbols.C_INT;
import static io.vvolgate.bindings.NativeSymbols.C_POINTER;

/** {@code <string.h>}: strerror, for messages an operator reads. Not for the I/O path. */
@SuppressWarnings("checkstyle:TypeName")
public final class string_h {
    private string_h() {
    }

    private static final class strerror$ {
        static final MethodHandle HANDLE = NativeSymbols.downcall("strerror", FunctionDescriptor.of(C_POINTER, C_INT));
    }

    /** {@code char *strerror(int errnum)} as a Java string, e.g. "Invalid argument (errno 22)". */
    public static String strerror(int errnum) {
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment state = NativeSymbols.allocateErrnoState(arena);
            MemorySegment text = (MemorySegment) strerror$.HANDLE.invokeExact(state, errnum);
            return text.reinterpret(256).getString(0) + " (errno " + errnum + ")";
        } catch (Throwable t) {
            return "errno " + errnum;
        }
    }
}
