package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Synchronous calls on a block device, for tests. */
final class VolumeIo {
    private VolumeIo() {
    }

    static int await(java.util.function.Consumer<CompletableFuture<Integer>> call) {
        CompletableFuture<Integer> f = new CompletableFuture<>();
        call.accept(f);
        try {
            return f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static final IoCompletion<CompletableFuture<Integer>> DONE = (f, errno) -> f.complete(errno);

    static int write(BlockDevice d, long offset, byte[] data, boolean fua) {
        ByteBuf src = Unpooled.wrappedBuffer(data);
        return await(f -> d.write(offset, data.length, src, fua, f, DONE));
    }

    static byte[] read(BlockDevice d, long offset, int length) {
        ByteBuf dst = Unpooled.buffer(length);
        int errno = await(f -> d.read(offset, length, dst, f, DONE));
        if (errno != IoCompletion.OK) {
            throw new AssertionError("read failed with errno " + errno);
        }
        if (dst.writerIndex() != length) {
            throw new AssertionError("read advanced the buffer by " + dst.writerIndex() + ", not " + length);
        }
        byte[] out = new byte[length];
        dst.getBytes(0, out);
        return out;
    }

    static int readErrno(BlockDevice d, long offset, int length) {
        ByteBuf dst = Unpooled.buffer(length);
        return await(f -> d.read(offset, length, dst, f, DONE));
    }

    static int flush(BlockDevice d) {
        return await(f -> d.flush(f, DONE));
    }

    static int zeroes(BlockDevice d, long offset, long length) {
        return await(f -> d.writeZeroes(offset, length, false, f, DONE));
    }

    static int deallocate(BlockDevice d, long offset, long length) {
        return await(f -> d.deallocate(offset, length, f, DONE));
    }

    static byte[] pattern(int length, long seed) {
        byte[] b = new byte[length];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }
}
