package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;

/**
 * A read-only window {@code [offset, offset + size)} of another device, for offline inspection (fsck):
 * the container inside a mirror leg starts at {@link MirroredDevice#DATA_OFFSET}, and a look must not be
 * able to change what it looks at. Reads are passed through shifted by {@code offset}; writes,
 * write-zeroes and deallocates complete with {@link IoCompletion#EROFS} without reaching the device;
 * flush completes at once (nothing was written through the view). Stateless beyond its bounds, so any
 * thread may call it; completions come wherever the underlying device completes reads.
 *
 * <p>The underlying device stays the caller's: {@link #close} does nothing.
 */
public final class ReadOnlyView implements BlockDevice {
    private final BlockDevice device;
    private final long offset;
    private final long size;

    /**
     * @throws IllegalArgumentException if the window is not inside the device or not block-aligned
     */
    public ReadOnlyView(BlockDevice device, long offset, long size) {
        if (DeviceRange.check(offset, size, device.size(), device.blockSize()) != IoCompletion.OK || size == 0) {
            throw new IllegalArgumentException("a window of " + size + " bytes at " + offset + " does not fit a device of "
                    + device.size() + " bytes with " + device.blockSize() + "-byte blocks");
        }
        this.device = device;
        this.offset = offset;
        this.size = size;
    }

    /** The whole device, read-only. */
    public static ReadOnlyView of(BlockDevice device) {
        return new ReadOnlyView(device, 0, device.size());
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int blockSize() {
        return device.blockSize();
    }

    @Override
    public boolean volatileWriteCache() {
        return device.volatileWriteCache();
    }

    @Override
    public boolean readOnly() {
        return true;
    }

    @Override
    public boolean completesInline() {
        return device.completesInline();
    }

    @Override
    public <A> void read(long at, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        int errno = DeviceRange.check(at, length, size, device.blockSize());
        if (errno != IoCompletion.OK) {
            completion.completed(attachment, errno);
            return;
        }
        device.read(offset + at, length, dst, attachment, completion);
    }

    @Override
    public <A> void write(long at, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, IoCompletion.EROFS);
    }

    @Override
    public <A> void writeZeroes(long at, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, IoCompletion.EROFS);
    }

    @Override
    public <A> void deallocate(long at, long length, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, IoCompletion.EROFS);
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, IoCompletion.OK);
    }

    @Override
    public DeviceHealth health() {
        return device.health();
    }

    @Override
    public void close() {
        // The device is the caller's.
    }
}
