package io.vvolgate.bindings.linux.io_uring;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * {@code struct io_sqring_offsets} of {@code <linux/io_uring.h>}: the SQ ring's field offsets within its mapping, filled in by io_uring_setup.
 *
 * <pre>
 * offset  type   field        (sizeof = 40)
 *     0  __u32  head
 *     4  __u32  tail
 *     8  __u32  ring_mask
 *    12  __u32  ring_entries
 *    16  __u32  flags
 *    20  __u32  dropped
 *    24  __u32  array
 *    28  __u32  resv1
 *    32  __u64  resv2
 * </pre>
 *
 * Generated in jextract's shape (a layout, {@code field$OFFSET} constants, static getters and setters on a
 * {@link MemorySegment}); values checked against gcc on the Linux 6.1 headers, see SYMBOLS.md.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class io_sqring_offsets {

    private io_sqring_offsets() {
    }

    private static final GroupLayout $LAYOUT = MemoryLayout.structLayout(
            ValueLayout.JAVA_INT.withName("head"),
            ValueLayout.JAVA_INT.withName("tail"),
            ValueLayout.JAVA_INT.withName("ring_mask"),
            ValueLayout.JAVA_INT.withName("ring_entries"),
            ValueLayout.JAVA_INT.withName("flags"),
            ValueLayout.JAVA_INT.withName("dropped"),
            ValueLayout.JAVA_INT.withName("array"),
            ValueLayout.JAVA_INT.withName("resv1"),
            ValueLayout.JAVA_LONG.withName("resv2")
    ).withName("io_sqring_offsets");

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

    private static final ValueLayout.OfInt head$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("head"));
    public static final long head$OFFSET = 0;

    public static ValueLayout.OfInt head$layout() {
        return head$LAYOUT;
    }

    public static int head(MemorySegment struct) {
        return struct.get(head$LAYOUT, head$OFFSET);
    }

    public static void head(MemorySegment struct, int fieldValue) {
        struct.set(head$LAYOUT, head$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt tail$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("tail"));
    public static final long tail$OFFSET = 4;

    public static ValueLayout.OfInt tail$layout() {
        return tail$LAYOUT;
    }

    public static int tail(MemorySegment struct) {
        return struct.get(tail$LAYOUT, tail$OFFSET);
    }

    public static void tail(MemorySegment struct, int fieldValue) {
        struct.set(tail$LAYOUT, tail$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt ring_mask$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("ring_mask"));
    public static final long ring_mask$OFFSET = 8;

    public static ValueLayout.OfInt ring_mask$layout() {
        return ring_mask$LAYOUT;
    }

    public static int ring_mask(MemorySegment struct) {
        return struct.get(ring_mask$LAYOUT, ring_mask$OFFSET);
    }

    public static void ring_mask(MemorySegment struct, int fieldValue) {
        struct.set(ring_mask$LAYOUT, ring_mask$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt ring_entries$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("ring_entries"));
    public static final long ring_entries$OFFSET = 12;

    public static ValueLayout.OfInt ring_entries$layout() {
        return ring_entries$LAYOUT;
    }

    public static int ring_entries(MemorySegment struct) {
        return struct.get(ring_entries$LAYOUT, ring_entries$OFFSET);
    }

    public static void ring_entries(MemorySegment struct, int fieldValue) {
        struct.set(ring_entries$LAYOUT, ring_entries$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt flags$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("flags"));
    public static final long flags$OFFSET = 16;

    public static ValueLayout.OfInt flags$layout() {
        return flags$LAYOUT;
    }

    public static int flags(MemorySegment struct) {
        return struct.get(flags$LAYOUT, flags$OFFSET);
    }

    public static void flags(MemorySegment struct, int fieldValue) {
        struct.set(flags$LAYOUT, flags$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt dropped$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("dropped"));
    public static final long dropped$OFFSET = 20;

    public static ValueLayout.OfInt dropped$layout() {
        return dropped$LAYOUT;
    }

    public static int dropped(MemorySegment struct) {
        return struct.get(dropped$LAYOUT, dropped$OFFSET);
    }

    public static void dropped(MemorySegment struct, int fieldValue) {
        struct.set(dropped$LAYOUT, dropped$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt array$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("array"));
    public static final long array$OFFSET = 24;

    public static ValueLayout.OfInt array$layout() {
        return array$LAYOUT;
    }

    public static int array(MemorySegment struct) {
        return struct.get(array$LAYOUT, array$OFFSET);
    }

    public static void array(MemorySegment struct, int fieldValue) {
        struct.set(array$LAYOUT, array$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt resv1$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("resv1"));
    public static final long resv1$OFFSET = 28;

    public static ValueLayout.OfInt resv1$layout() {
        return resv1$LAYOUT;
    }

    public static int resv1(MemorySegment struct) {
        return struct.get(resv1$LAYOUT, resv1$OFFSET);
    }

    public static void resv1(MemorySegment struct, int fieldValue) {
        struct.set(resv1$LAYOUT, resv1$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfLong resv2$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("resv2"));
    public static final long resv2$OFFSET = 32;

    public static ValueLayout.OfLong resv2$layout() {
        return resv2$LAYOUT;
    }

    public static long resv2(MemorySegment struct) {
        return struct.get(resv2$LAYOUT, resv2$OFFSET);
    }

    public static void resv2(MemorySegment struct, long fieldValue) {
        struct.set(resv2$LAYOUT, resv2$OFFSET, fieldValue);
    }
}
