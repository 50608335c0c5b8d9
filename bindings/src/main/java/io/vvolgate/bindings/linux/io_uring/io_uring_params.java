package io.vvolgate.bindings.linux.io_uring;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * {@code struct io_uring_params} of {@code <linux/io_uring.h>}: what {@code io_uring_setup} is asked for
 * (entries, flags) and what it answers (features, ring offsets).
 *
 * <pre>
 * offset  type                      field        (sizeof = 120)
 *     0   __u32                     sq_entries
 *     4   __u32                     cq_entries
 *     8   __u32                     flags
 *    12   __u32                     sq_thread_cpu
 *    16   __u32                     sq_thread_idle
 *    20   __u32                     features
 *    24   __u32                     wq_fd
 *    28   __u32[3]                  resv
 *    40   struct io_sqring_offsets  sq_off   (40 bytes)
 *    80   struct io_cqring_offsets  cq_off   (40 bytes)
 * </pre>
 */
@SuppressWarnings("checkstyle:TypeName")
public final class io_uring_params {

    private io_uring_params() {
    }

    private static final GroupLayout $LAYOUT = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("sq_entries"),
            ValueLayout.JAVA_INT.withName("cq_entries"),
            ValueLayout.JAVA_INT.withName("flags"),
            ValueLayout.JAVA_INT.withName("sq_thread_cpu"),
            ValueLayout.JAVA_INT.withName("sq_thread_idle"),
            ValueLayout.JAVA_INT.withName("features"),
            ValueLayout.JAVA_INT.withName("wq_fd"),
            MemoryLayout.sequenceLayout(3, ValueLayout.JAVA_INT).withName("resv"),
            io_sqring_offsets.layout().withName("sq_off"),
            io_cqring_offsets.layout().withName("cq_off")
    ).withName("io_uring_params");

    public static GroupLayout layout() {
        return $LAYOUT;
    }

    public static long sizeof() {
        return $LAYOUT.byteSize();
    }

    public static MemorySegment allocate(SegmentAllocator allocator) {
        return allocator.allocate($LAYOUT);
    }

    public static final long sq_entries$OFFSET = 0;
    public static final long cq_entries$OFFSET = 4;
    public static final long flags$OFFSET = 8;
    public static final long sq_thread_cpu$OFFSET = 12;
    public static final long sq_thread_idle$OFFSET = 16;
    public static final long features$OFFSET = 20;
    public static final long wq_fd$OFFSET = 24;
    public static final long resv$OFFSET = 28;
    public static final long sq_off$OFFSET = 40;
    public static final long cq_off$OFFSET = 80;

    public static int sq_entries(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, sq_entries$OFFSET);
    }

    public static void sq_entries(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, sq_entries$OFFSET, fieldValue);
    }

    public static int cq_entries(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, cq_entries$OFFSET);
    }

    public static void cq_entries(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, cq_entries$OFFSET, fieldValue);
    }

    public static int flags(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, flags$OFFSET);
    }

    public static void flags(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, flags$OFFSET, fieldValue);
    }

    public static int sq_thread_cpu(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, sq_thread_cpu$OFFSET);
    }

    public static void sq_thread_cpu(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, sq_thread_cpu$OFFSET, fieldValue);
    }

    public static int sq_thread_idle(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, sq_thread_idle$OFFSET);
    }

    public static void sq_thread_idle(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, sq_thread_idle$OFFSET, fieldValue);
    }

    public static int features(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, features$OFFSET);
    }

    public static void features(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, features$OFFSET, fieldValue);
    }

    public static int wq_fd(MemorySegment struct) {
        return struct.get(ValueLayout.JAVA_INT, wq_fd$OFFSET);
    }

    public static void wq_fd(MemorySegment struct, int fieldValue) {
        struct.set(ValueLayout.JAVA_INT, wq_fd$OFFSET, fieldValue);
    }

    /** The embedded {@code sq_off}, to read with {@link io_sqring_offsets}'s accessors. */
    public static MemorySegment sq_off(MemorySegment struct) {
        return struct.asSlice(sq_off$OFFSET, io_sqring_offsets.layout());
    }

    /** The embedded {@code cq_off}, to read with {@link io_cqring_offsets}'s accessors. */
    public static MemorySegment cq_off(MemorySegment struct) {
        return struct.asSlice(cq_off$OFFSET, io_cqring_offsets.layout());
    }
}
