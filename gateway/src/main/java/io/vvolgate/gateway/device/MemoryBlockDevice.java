package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A device in off-heap memory, allocated lazily: the capacity is cut into {@link #CHUNK_SIZE} chunks, a
 * chunk is allocated on the first write that touches it, a chunk never written reads as zeroes, and
 * deallocating or zeroing a whole chunk drops it. A 1 GiB memory namespace therefore costs nothing
 * until the host writes to it. The data is gone when the process stops.
 *
 * <pre>
 *   offset:  0          1 MiB        2 MiB        3 MiB   ...   size
 *            +------------+------------+------------+-- ... --+
 *   chunks:  |  segment   |    null    |  segment   |   ...   |   null = never written / deallocated
 *            +------------+------------+------------+-- ... --+
 * </pre>
 *
 * <p>Threads: any thread may call any operation, and calls on different ranges may run at once. The chunk
 * table is an {@link AtomicReferenceArray}; a chunk is published with compare-and-set, so two writers
 * racing to create the same chunk agree on one. Every operation completes on the calling thread before
 * the call returns. Concurrent operations on overlapping ranges see each other's bytes in no particular
 * order, as on a real device.
 *
 * <p>Chunks come from {@link Arena#ofAuto()}: a dropped chunk is freed by the garbage collector once no
 * in-flight operation still holds it. An explicitly closed arena would free it at once, but a read racing
 * a deallocate of the same chunk (a host bug, yet a legal one) would then copy from freed memory; this
 * way the worst it can see is stale data.
 *
 * <p>Allocation: none per operation. Copies go from segment to the buffer's memory by address
 * ({@link MemorySegment#copy}), or to its array for a heap buffer; only a buffer with neither (composite)
 * costs a small {@code ByteBuffer} view. Netty's own buffer-to-buffer copy is not used: without
 * {@code sun.misc.Unsafe} it goes through a view's one cached {@code ByteBuffer}, which concurrent callers
 * would share. Every operation completes before the call returns ({@link #completesInline()}), which lets the
 * target run it on the connection's own thread.
 */
public final class MemoryBlockDevice implements BlockDevice {

    /** Allocation granule. A multiple of every block size, so no block straddles two chunks. */
    public static final int CHUNK_SIZE = 1 << 20;
    private static final int CHUNK_SHIFT = 20;

    private final long size;
    private final int blockSize;
    /** All of memory, to copy to a buffer's address without a segment per copy; bounds are checked first. */
    private static final MemorySegment EVERYTHING = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    private final AtomicReferenceArray<MemorySegment> chunks;
    private volatile boolean closed;

    /**
     * @param size      capacity in bytes, a positive multiple of {@code blockSize}
     * @param blockSize 512 or 4096
     */
    public MemoryBlockDevice(long size, int blockSize) {
        DeviceRange.requireGeometry(size, blockSize);
        long count = (size + CHUNK_SIZE - 1) >>> CHUNK_SHIFT;
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a memory device of " + size + " bytes is too large");
        }
        this.size = size;
        this.blockSize = blockSize;
        this.chunks = new AtomicReferenceArray<>((int) count);
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean volatileWriteCache() {
        return false;
    }

    /** Bytes of memory currently allocated to chunks (for tests and the space statistics). */
    public long allocatedBytes() {
        long total = 0;
        for (int i = 0; i < chunks.length(); i++) {
            MemorySegment chunk = chunks.get(i);
            if (chunk != null) {
                total += chunk.byteSize();
            }
        }
        return total;
    }

    @Override
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, doRead(offset, length, dst));
    }

    private int doRead(long offset, int length, ByteBuf dst) {
        int errno = check(offset, length);
        if (errno != IoCompletion.OK) {
            return errno;
        }
        try {
            dst.ensureWritable(length);
            int base = dst.writerIndex();
            int done = 0;
            while (done < length) {
                long at = offset + done;
                int index = (int) (at >>> CHUNK_SHIFT);
                int within = (int) (at & (CHUNK_SIZE - 1));
                int piece = Math.min(length - done, CHUNK_SIZE - within);
                MemorySegment chunk = chunks.get(index);
                if (chunk == null) {
                    dst.setZero(base + done, piece);
                } else {
                    copy(chunk, within, dst, base + done, piece);
                }
                done += piece;
            }
            dst.writerIndex(base + length);
            return IoCompletion.OK;
        } catch (RuntimeException e) {
            // A buffer too small or released: a bug above us, reported rather than thrown into a reactor.
            return IoCompletion.EIO;
        }
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                          IoCompletion<A> completion) {
        completion.completed(attachment, doWrite(offset, length, src));
    }

    private int doWrite(long offset, int length, ByteBuf src) {
        int errno = check(offset, length);
        if (errno != IoCompletion.OK) {
            return errno;
        }
        if (src.readableBytes() < length) {
            return IoCompletion.EIO;
        }
        try {
            int base = src.readerIndex();
            int done = 0;
            while (done < length) {
                long at = offset + done;
                int index = (int) (at >>> CHUNK_SHIFT);
                int within = (int) (at & (CHUNK_SIZE - 1));
                int piece = Math.min(length - done, CHUNK_SIZE - within);
                copy(src, base + done, chunkForWrite(index), within, piece);
                done += piece;
            }
            return IoCompletion.OK;
        } catch (RuntimeException | OutOfMemoryError e) {
            // OutOfMemoryError here means direct memory is exhausted: the device is full, not the JVM broken.
            return e instanceof OutOfMemoryError ? IoCompletion.ENOSPC : IoCompletion.EIO;
        }
    }

    /** Device memory to a buffer, without allocating (see the class comment). */
    private static void copy(MemorySegment chunk, int within, ByteBuf dst, int index, int length) {
        checkBuffer(dst, index, length);
        if (dst.hasMemoryAddress()) {
            MemorySegment.copy(chunk, within, EVERYTHING, dst.memoryAddress() + index, length);
        } else if (dst.hasArray()) {
            MemorySegment.copy(chunk, ValueLayout.JAVA_BYTE, within, dst.array(), dst.arrayOffset() + index, length);
        } else {
            dst.setBytes(index, chunk.asSlice(within, length).asByteBuffer());
        }
    }

    /** A buffer to device memory, without allocating. */
    private static void copy(ByteBuf src, int index, MemorySegment chunk, int within, int length) {
        checkBuffer(src, index, length);
        if (src.hasMemoryAddress()) {
            MemorySegment.copy(EVERYTHING, src.memoryAddress() + index, chunk, within, length);
        } else if (src.hasArray()) {
            MemorySegment.copy(src.array(), src.arrayOffset() + index, chunk, ValueLayout.JAVA_BYTE, within, length);
        } else {
            src.getBytes(index, chunk.asSlice(within, length).asByteBuffer());
        }
    }

    /** The copies above bypass the buffer's own checks: a released buffer or a range outside it is refused. */
    private static void checkBuffer(ByteBuf buf, int index, int length) {
        if (buf.refCnt() == 0 || index < 0 || length < 0 || index > buf.capacity() - length) {
            throw new IndexOutOfBoundsException("index " + index + " length " + length + " outside the buffer");
        }
    }

    private MemorySegment chunkForWrite(int index) {
        MemorySegment chunk = chunks.get(index);
        if (chunk != null) {
            return chunk;
        }
        long start = (long) index << CHUNK_SHIFT;
        int length = (int) Math.min(CHUNK_SIZE, size - start);
        // Arena allocations are zeroed, which is what an unwritten chunk must read as.
        MemorySegment created = Arena.ofAuto().allocate(length, 4096);
        MemorySegment witness = chunks.compareAndExchange(index, null, created);
        return witness == null ? created : witness;
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, doZero(offset, length));
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, doZero(offset, length));
    }

    /** Drops whole chunks and zeroes the partial ones at either end; both read back as zeroes. */
    private int doZero(long offset, long length) {
        int errno = check(offset, length);
        if (errno != IoCompletion.OK) {
            return errno;
        }
        long done = 0;
        while (done < length) {
            long at = offset + done;
            int index = (int) (at >>> CHUNK_SHIFT);
            int within = (int) (at & (CHUNK_SIZE - 1));
            MemorySegment chunk = chunks.get(index);
            long chunkLength = chunk == null ? 0 : chunk.byteSize();
            long piece = Math.min(length - done, CHUNK_SIZE - within);
            if (chunk != null) {
                if (within == 0 && piece >= chunkLength) {
                    chunks.compareAndSet(index, chunk, null);
                } else {
                    chunk.asSlice(within, piece).fill((byte) 0);
                }
            }
            done += piece;
        }
        return IoCompletion.OK;
    }

    /** Every operation completes on the calling thread before it returns. */
    @Override
    public boolean completesInline() {
        return true;
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, closed ? IoCompletion.EIO : IoCompletion.OK);
    }

    @Override
    public DeviceHealth health() {
        return DeviceHealth.UNKNOWN;
    }

    /** Drops every chunk; later operations complete with {@link IoCompletion#EIO}. */
    @Override
    public void close() {
        closed = true;
        for (int i = 0; i < chunks.length(); i++) {
            chunks.set(i, null);
        }
    }

    private int check(long offset, long length) {
        if (closed) {
            return IoCompletion.EIO;
        }
        return DeviceRange.check(offset, length, size, blockSize);
    }
}
