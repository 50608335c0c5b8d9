package io.vvolgate.gateway.io;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;

/**
 * The pool that commands' data buffers come from: off-heap, pooled (thread-local caches, recycled buffer
 * objects, nothing allocated per I/O in steady state) and aligned to {@value #ALIGNMENT} bytes, so that an
 * {@code O_DIRECT} device ({@code IoUringBlockDevice}) can hand the buffer to the kernel as it is instead of
 * copying it through a bounce buffer.
 *
 * <p>PDU headers and completions do not come from here: they are a few dozen bytes, and aligning each to a page
 * would waste most of it. Where Netty cannot align its pools (no {@code sun.misc.Unsafe}), this is Netty's
 * default pooled allocator and O_DIRECT devices copy through their bounce buffers; {@link #aligned()} says which.
 */
public final class DataBuffers {
    /** Alignment of every buffer's memory address; 4096 satisfies every logical sector size in use. */
    public static final int ALIGNMENT = 4096;

    /** System property: {@code true} takes data buffers from Netty's default pooled allocator, unaligned. */
    public static final String UNALIGNED_PROPERTY = "vvolgate.data_buffers.unaligned";

    private static final boolean ALIGNED = PooledByteBufAllocator.isDirectMemoryCacheAlignmentSupported()
            && !Boolean.getBoolean(UNALIGNED_PROPERTY);

    /** The allocator; any thread (per-thread caches inside). */
    public static final ByteBufAllocator ALLOCATOR = ALIGNED
            ? new PooledByteBufAllocator(true, 0, PooledByteBufAllocator.defaultNumDirectArena(),
                    PooledByteBufAllocator.defaultPageSize(), PooledByteBufAllocator.defaultMaxOrder(),
                    PooledByteBufAllocator.defaultSmallCacheSize(), PooledByteBufAllocator.defaultNormalCacheSize(),
                    true, ALIGNMENT)
            : PooledByteBufAllocator.DEFAULT;

    private DataBuffers() {
    }

    /** True if buffers from {@link #ALLOCATOR} are {@value #ALIGNMENT}-aligned. */
    public static boolean aligned() {
        return ALIGNED;
    }
}
