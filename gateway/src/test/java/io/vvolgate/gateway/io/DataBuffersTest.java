package io.vvolgate.gateway.io;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Data buffers are off-heap and page-aligned, so O_DIRECT needs no bounce copy. */
@ExtendWith(LeakFailingExtension.class)
class DataBuffersTest {

    @Test
    void dataBuffersAreOffHeapAndPageAligned() {
        assumeTrue(DataBuffers.aligned(), "Netty cannot align its pools here (no sun.misc.Unsafe)");
        for (int size : new int[] {512, 4096, 8192, 128 * 1024, 1 << 20}) {
            ByteBuf[] bufs = new ByteBuf[8];
            for (int i = 0; i < bufs.length; i++) {
                bufs[i] = DataBuffers.ALLOCATOR.directBuffer(size, size);
                assertTrue(bufs[i].isDirect());
                long address = MemorySegment.ofBuffer(bufs[i].nioBuffer(0, size)).address();
                assertEquals(0, address % DataBuffers.ALIGNMENT, size + "-byte buffer at " + Long.toHexString(address));
            }
            for (ByteBuf b : bufs) {
                b.release();
            }
        }
    }
}
