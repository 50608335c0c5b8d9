package io.vvolgate.gateway.testing;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.DeviceHealth;
import io.vvolgate.gateway.device.IoCompletion;

/**
 * A device that passes every call to {@link #inner}: tests extend it and override only the calls they
 * hold back, count or fail, so each wrapper says what it does differently and nothing else.
 */
public abstract class ForwardingDevice implements BlockDevice {
    protected final BlockDevice inner;

    protected ForwardingDevice(BlockDevice inner) {
        this.inner = inner;
    }

    @Override
    public long size() {
        return inner.size();
    }

    @Override
    public int blockSize() {
        return inner.blockSize();
    }

    @Override
    public boolean volatileWriteCache() {
        return inner.volatileWriteCache();
    }

    @Override
    public boolean completesInline() {
        return inner.completesInline();
    }

    @Override
    public boolean readOnly() {
        return inner.readOnly();
    }

    @Override
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        inner.read(offset, length, dst, attachment, completion);
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
        inner.write(offset, length, src, fua, attachment, completion);
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        inner.writeZeroes(offset, length, fua, attachment, completion);
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        inner.deallocate(offset, length, attachment, completion);
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        inner.flush(attachment, completion);
    }

    @Override
    public DeviceHealth health() {
        return inner.health();
    }

    @Override
    public void close() {
        inner.close();
    }
}
