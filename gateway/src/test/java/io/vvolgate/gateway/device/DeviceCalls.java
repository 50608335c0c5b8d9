package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Synchronous helpers over the asynchronous {@link BlockDevice} calls, for the backend tests: each call
 * waits for its one completion and returns the errno. Buffers are allocated and released here, so tests
 * stay leak-free under paranoid leak detection.
 */
final class DeviceCalls {

    private DeviceCalls() {
    }

    /** Records errno and counts calls, so tests can assert "exactly once". */
    static final class Outcome implements IoCompletion<Object> {
        final AtomicInteger calls = new AtomicInteger();
        volatile int errno = -1;

        @Override
        public void completed(Object attachment, int errno) {
            this.errno = errno;
            calls.incrementAndGet();
        }

        int once() {
            assertEquals(1, calls.get(), "completion must be called exactly once");
            return errno;
        }
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed * 31 + i * 7 + (i >>> 9));
        }
        return b;
    }

    static int write(BlockDevice device, long offset, byte[] data, boolean fua) {
        ByteBuf src = PooledByteBufAllocator.DEFAULT.directBuffer(data.length);
        try {
            src.writeBytes(data);
            Outcome o = new Outcome();
            device.write(offset, data.length, src, fua, null, o);
            assertEquals(0, src.readerIndex(), "write must leave the source's indices unchanged");
            return o.once();
        } finally {
            src.release();
        }
    }

    /** Reads {@code length} bytes; returns null and asserts nothing on error (check with {@link #readErrno}). */
    static byte[] read(BlockDevice device, long offset, int length) {
        ByteBuf dst = PooledByteBufAllocator.DEFAULT.directBuffer(length);
        try {
            Outcome o = new Outcome();
            device.read(offset, length, dst, null, o);
            assertEquals(IoCompletion.OK, o.once(), "read at " + offset + " length " + length);
            assertEquals(length, dst.writerIndex(), "read advances writerIndex by length");
            byte[] out = new byte[length];
            dst.getBytes(0, out);
            return out;
        } finally {
            dst.release();
        }
    }

    static int readErrno(BlockDevice device, long offset, int length) {
        ByteBuf dst = PooledByteBufAllocator.DEFAULT.heapBuffer(Math.max(length, 0));
        try {
            Outcome o = new Outcome();
            device.read(offset, length, dst, null, o);
            return o.once();
        } finally {
            dst.release();
        }
    }

    static int writeZeroes(BlockDevice device, long offset, long length, boolean fua) {
        Outcome o = new Outcome();
        device.writeZeroes(offset, length, fua, null, o);
        return o.once();
    }

    static int deallocate(BlockDevice device, long offset, long length) {
        Outcome o = new Outcome();
        device.deallocate(offset, length, null, o);
        return o.once();
    }

    static int flush(BlockDevice device) {
        Outcome o = new Outcome();
        device.flush(null, o);
        return o.once();
    }

    static boolean allZero(byte[] b) {
        return Arrays.equals(b, new byte[b.length]);
    }
}
