package io.vvolgate.gateway.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class LeakFailingExtensionTest {

    @Test
    void aBufferDroppedWithoutReleaseIsReported() {
        leak();
        List<String> leaks = LeakFailingExtension.collectLeaks();
        assertFalse(leaks.isEmpty(), "the leak was reported");
        assertTrue(leaks.getFirst().contains("aBufferDroppedWithoutReleaseIsReported")
                || leaks.getFirst().contains("leak"), leaks.getFirst());
    }

    @Test
    void releasedBuffersAreNotReported() {
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(16);
        b.writeLong(1);
        b.release();
        assertTrue(LeakFailingExtension.collectLeaks().isEmpty());
    }

    private static void leak() {
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(16);
        b.writeLong(42);
    }
}
