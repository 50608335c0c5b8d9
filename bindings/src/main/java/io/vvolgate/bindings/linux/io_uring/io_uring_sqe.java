package io.vvolgate.bindings.linux.io_uring;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * {@code struct io_uring_sqe} of {@code <linux/io_uring.h>}: a submission queue entry (without IORING_SETUP_SQE128). The unions of the kernel header are flattened to their first member; the other members that share an offset have their own accessors below ({@code fsync_flags}, {@code buf_group}, {@code file_index}...).
 *
 * <pre>
 * offset  type   field        (sizeof = 64)
 *     0  __u8   opcode
 *     1  __u8   flags
 *     2  __u16  ioprio
 *     4  __u32  fd
 *     8  __u64  off
 *    16  __u64  addr
 *    24  __u32  len
 *    28  __u32  rw_flags
 *    32  __u64  user_data
 *    40  __u16  buf_index
 *    42  __u16  personality
 *    44  __u32  splice_fd_in
 *    48  __u64  addr3
 *    56  __u64  __pad2
 * </pre>
 *
 * Generated in jextract's shape (a layout, {@code field$OFFSET} constants, static getters and setters on a
 * {@link MemorySegment}); values checked against gcc on the Linux 6.1 headers, see SYMBOLS.md.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class io_uring_sqe {

    private io_uring_sqe() {
    }

    private static final GroupLayout $LAYOUT = MemoryLayout.structLayout(
            ValueLayout.JAVA_BYTE.withName("opcode"),
            ValueLayout.JAVA_BYTE.withName("flags"),
            ValueLayout.JAVA_SHORT.withName("ioprio"),
            ValueLayout.JAVA_INT.withName("fd"),
            ValueLayout.JAVA_LONG.withName("off"),
            ValueLayout.JAVA_LONG.withName("addr"),
            ValueLayout.JAVA_INT.withName("len"),
            ValueLayout.JAVA_INT.withName("rw_flags"),
            ValueLayout.JAVA_LONG.withName("user_data"),
            ValueLayout.JAVA_SHORT.withName("buf_index"),
            ValueLayout.JAVA_SHORT.withName("personality"),
            ValueLayout.JAVA_INT.withName("splice_fd_in"),
            ValueLayout.JAVA_LONG.withName("addr3"),
            ValueLayout.JAVA_LONG.withName("__pad2")
    ).withName("io_uring_sqe");

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

    private static final ValueLayout.OfByte opcode$LAYOUT = (ValueLayout.OfByte) $LAYOUT.select(MemoryLayout.PathElement.groupElement("opcode"));
    public static final long opcode$OFFSET = 0;

    public static ValueLayout.OfByte opcode$layout() {
        return opcode$LAYOUT;
    }

    public static byte opcode(MemorySegment struct) {
        return struct.get(opcode$LAYOUT, opcode$OFFSET);
    }

    public static void opcode(MemorySegment struct, byte fieldValue) {
        struct.set(opcode$LAYOUT, opcode$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfByte flags$LAYOUT = (ValueLayout.OfByte) $LAYOUT.select(MemoryLayout.PathElement.groupElement("flags"));
    public static final long flags$OFFSET = 1;

    public static ValueLayout.OfByte flags$layout() {
        return flags$LAYOUT;
    }

    public static byte flags(MemorySegment struct) {
        return struct.get(flags$LAYOUT, flags$OFFSET);
    }

    public static void flags(MemorySegment struct, byte fieldValue) {
        struct.set(flags$LAYOUT, flags$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfShort ioprio$LAYOUT = (ValueLayout.OfShort) $LAYOUT.select(MemoryLayout.PathElement.groupElement("ioprio"));
    public static final long ioprio$OFFSET = 2;

    public static ValueLayout.OfShort ioprio$layout() {
        return ioprio$LAYOUT;
    }

    public static short ioprio(MemorySegment struct) {
        return struct.get(ioprio$LAYOUT, ioprio$OFFSET);
    }

    public static void ioprio(MemorySegment struct, short fieldValue) {
        struct.set(ioprio$LAYOUT, ioprio$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt fd$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("fd"));
    public static final long fd$OFFSET = 4;

    public static ValueLayout.OfInt fd$layout() {
        return fd$LAYOUT;
    }

    public static int fd(MemorySegment struct) {
        return struct.get(fd$LAYOUT, fd$OFFSET);
    }

    public static void fd(MemorySegment struct, int fieldValue) {
        struct.set(fd$LAYOUT, fd$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfLong off$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("off"));
    public static final long off$OFFSET = 8;

    public static ValueLayout.OfLong off$layout() {
        return off$LAYOUT;
    }

    public static long off(MemorySegment struct) {
        return struct.get(off$LAYOUT, off$OFFSET);
    }

    public static void off(MemorySegment struct, long fieldValue) {
        struct.set(off$LAYOUT, off$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfLong addr$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("addr"));
    public static final long addr$OFFSET = 16;

    public static ValueLayout.OfLong addr$layout() {
        return addr$LAYOUT;
    }

    public static long addr(MemorySegment struct) {
        return struct.get(addr$LAYOUT, addr$OFFSET);
    }

    public static void addr(MemorySegment struct, long fieldValue) {
        struct.set(addr$LAYOUT, addr$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt len$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("len"));
    public static final long len$OFFSET = 24;

    public static ValueLayout.OfInt len$layout() {
        return len$LAYOUT;
    }

    public static int len(MemorySegment struct) {
        return struct.get(len$LAYOUT, len$OFFSET);
    }

    public static void len(MemorySegment struct, int fieldValue) {
        struct.set(len$LAYOUT, len$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt rw_flags$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("rw_flags"));
    public static final long rw_flags$OFFSET = 28;

    public static ValueLayout.OfInt rw_flags$layout() {
        return rw_flags$LAYOUT;
    }

    public static int rw_flags(MemorySegment struct) {
        return struct.get(rw_flags$LAYOUT, rw_flags$OFFSET);
    }

    public static void rw_flags(MemorySegment struct, int fieldValue) {
        struct.set(rw_flags$LAYOUT, rw_flags$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfLong user_data$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("user_data"));
    public static final long user_data$OFFSET = 32;

    public static ValueLayout.OfLong user_data$layout() {
        return user_data$LAYOUT;
    }

    public static long user_data(MemorySegment struct) {
        return struct.get(user_data$LAYOUT, user_data$OFFSET);
    }

    public static void user_data(MemorySegment struct, long fieldValue) {
        struct.set(user_data$LAYOUT, user_data$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfShort buf_index$LAYOUT = (ValueLayout.OfShort) $LAYOUT.select(MemoryLayout.PathElement.groupElement("buf_index"));
    public static final long buf_index$OFFSET = 40;

    public static ValueLayout.OfShort buf_index$layout() {
        return buf_index$LAYOUT;
    }

    public static short buf_index(MemorySegment struct) {
        return struct.get(buf_index$LAYOUT, buf_index$OFFSET);
    }

    public static void buf_index(MemorySegment struct, short fieldValue) {
        struct.set(buf_index$LAYOUT, buf_index$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfShort personality$LAYOUT = (ValueLayout.OfShort) $LAYOUT.select(MemoryLayout.PathElement.groupElement("personality"));
    public static final long personality$OFFSET = 42;

    public static ValueLayout.OfShort personality$layout() {
        return personality$LAYOUT;
    }

    public static short personality(MemorySegment struct) {
        return struct.get(personality$LAYOUT, personality$OFFSET);
    }

    public static void personality(MemorySegment struct, short fieldValue) {
        struct.set(personality$LAYOUT, personality$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfInt splice_fd_in$LAYOUT = (ValueLayout.OfInt) $LAYOUT.select(MemoryLayout.PathElement.groupElement("splice_fd_in"));
    public static final long splice_fd_in$OFFSET = 44;

    public static ValueLayout.OfInt splice_fd_in$layout() {
        return splice_fd_in$LAYOUT;
    }

    public static int splice_fd_in(MemorySegment struct) {
        return struct.get(splice_fd_in$LAYOUT, splice_fd_in$OFFSET);
    }

    public static void splice_fd_in(MemorySegment struct, int fieldValue) {
        struct.set(splice_fd_in$LAYOUT, splice_fd_in$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfLong addr3$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("addr3"));
    public static final long addr3$OFFSET = 48;

    public static ValueLayout.OfLong addr3$layout() {
        return addr3$LAYOUT;
    }

    public static long addr3(MemorySegment struct) {
        return struct.get(addr3$LAYOUT, addr3$OFFSET);
    }

    public static void addr3(MemorySegment struct, long fieldValue) {
        struct.set(addr3$LAYOUT, addr3$OFFSET, fieldValue);
    }

    private static final ValueLayout.OfLong __pad2$LAYOUT = (ValueLayout.OfLong) $LAYOUT.select(MemoryLayout.PathElement.groupElement("__pad2"));
    public static final long __pad2$OFFSET = 56;

    public static ValueLayout.OfLong __pad2$layout() {
        return __pad2$LAYOUT;
    }

    public static long __pad2(MemorySegment struct) {
        return struct.get(__pad2$LAYOUT, __pad2$OFFSET);
    }

    public static void __pad2(MemorySegment struct, long fieldValue) {
        struct.set(__pad2$LAYOUT, __pad2$OFFSET, fieldValue);
    }

    /** Union member sharing {@code off}'s offset. */
    public static final long addr2$OFFSET = off$OFFSET;

    public static long addr2(MemorySegment struct) {
        return struct.get(off$LAYOUT, off$OFFSET);
    }

    public static void addr2(MemorySegment struct, long fieldValue) {
        struct.set(off$LAYOUT, off$OFFSET, fieldValue);
    }

    /** Union member sharing {@code addr}'s offset. */
    public static final long splice_off_in$OFFSET = addr$OFFSET;

    public static long splice_off_in(MemorySegment struct) {
        return struct.get(addr$LAYOUT, addr$OFFSET);
    }

    public static void splice_off_in(MemorySegment struct, long fieldValue) {
        struct.set(addr$LAYOUT, addr$OFFSET, fieldValue);
    }

    /** Union member sharing {@code rw_flags}'s offset. */
    public static final long fsync_flags$OFFSET = rw_flags$OFFSET;

    public static int fsync_flags(MemorySegment struct) {
        return struct.get(rw_flags$LAYOUT, rw_flags$OFFSET);
    }

    public static void fsync_flags(MemorySegment struct, int fieldValue) {
        struct.set(rw_flags$LAYOUT, rw_flags$OFFSET, fieldValue);
    }

    /** Union member sharing {@code rw_flags}'s offset. */
    public static final long poll32_events$OFFSET = rw_flags$OFFSET;

    public static int poll32_events(MemorySegment struct) {
        return struct.get(rw_flags$LAYOUT, rw_flags$OFFSET);
    }

    public static void poll32_events(MemorySegment struct, int fieldValue) {
        struct.set(rw_flags$LAYOUT, rw_flags$OFFSET, fieldValue);
    }

    /** Union member sharing {@code rw_flags}'s offset. */
    public static final long open_flags$OFFSET = rw_flags$OFFSET;

    public static int open_flags(MemorySegment struct) {
        return struct.get(rw_flags$LAYOUT, rw_flags$OFFSET);
    }

    public static void open_flags(MemorySegment struct, int fieldValue) {
        struct.set(rw_flags$LAYOUT, rw_flags$OFFSET, fieldValue);
    }

    /** Union member sharing {@code buf_index}'s offset. */
    public static final long buf_group$OFFSET = buf_index$OFFSET;

    public static short buf_group(MemorySegment struct) {
        return struct.get(buf_index$LAYOUT, buf_index$OFFSET);
    }

    public static void buf_group(MemorySegment struct, short fieldValue) {
        struct.set(buf_index$LAYOUT, buf_index$OFFSET, fieldValue);
    }

    /** Union member sharing {@code splice_fd_in}'s offset. */
    public static final long file_index$OFFSET = splice_fd_in$OFFSET;

    public static int file_index(MemorySegment struct) {
        return struct.get(splice_fd_in$LAYOUT, splice_fd_in$OFFSET);
    }

    public static void file_index(MemorySegment struct, int fieldValue) {
        struct.set(splice_fd_in$LAYOUT, splice_fd_in$OFFSET, fieldValue);
    }
}
