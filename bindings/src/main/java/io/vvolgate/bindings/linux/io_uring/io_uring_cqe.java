package io.vvolgate.bindings.linux.io_uring;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * {@code struct io_uring_cqe} of {@code <linux/io_uring.h>}: a completion queue entry (without IORING_SETUP_CQE32).
 *
 * <pre>
 * offset  type   field        (sizeof = 16)
 *     0  __u64  user_data
 *     8  __u32  res
 *    12  __u32  flags
 * </pre>
 *
 * Generated in jextract's shape (a layout, {@code field$OFFSET} constants, static getters and setters on a
 * {@link MemorySegment}); values checked against gcc on the Linux 6.1 headers, see SYMBOLS.md.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class io_uring_cqe {

    private io_uring_cqe() {
    }

    private static final GroupLayout $LAYOUT = MemoryLayout.structLayout(
            ValueLayout.JAVA_LONG.withName("user_data"),
            ValueLayout.JAVA_INT.withName("res"),
            ValueLayout.JAVA_INT.withName("flags")
    ).withName("io_uring_cqe");

    public static GroupLayout layout() {
        return $LAYOUT;
    }

    public static long sizeof() {
        return $LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate($LAYOUT);
    }

    /** The element at {@code index} of an array of this struct. */
    public static MemorySegment asSlice(MemorySegment array, long index) {
        return array.asSlice($LAYOUT.byteSize() * index, $LAYOUT);
    }

    private static final ValueLayout.OfLong user_data$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("user_data"));
    public static final long user_data$OFFSET = 0;

    public static ValueLayout.OfLong user_data$layout() {
        return user_data$LAYOUT;
    }

    public static long user_data(MemorySegment struct) {
        return struct.get(user_data$LAYOUT, user_data$OFFSET);
    }

    public static void user_data(MemorySegment struct, long fieldValue) {
        struct.set(user_data$LAYOUT, user_data$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt res$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("res"));
    public static final long res$OFFSET = 8;

    public static ValueLayout.OfInt res$layout() {
        return res$LAYOUT;
    }

    public static int res(MemorySegment struct) {
        return struct.get(res$LAYOUT, res$OFFSET);
    }

    public static void res(MemorySegment struct, int fieldValue) {
        struct.set(res$LAYOUT, res$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt flags$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("flags"));
    public static final long flags$OFFSET = 12;

    public static ValueLayout.OfInt flags$layout() {
        return flags$LAYOUT;
    }

    public static int flags(MemorySegment struct) {
        return struct.get(flags$LAYOUT, flags$OFFSET);
    }

    public static void flags(MemorySegment struct, int fieldValue) {
        struct.set(flags$LAYOUT, flags$OFFSET, fieldValue);
    }
}
