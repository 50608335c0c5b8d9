package io.vvolgate.gateway.host;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.vvolgate.gateway.Gateway;
import io.vvolgate.gateway.GatewaySpec;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The async host against an in-process gateway with a memory namespace: writes that go in the capsule and
 * by R2T, reads back by C2HData, many in flight at once, and every pooled buffer released at the end.
 */
@Timeout(10)
@ExtendWith(LeakFailingExtension.class)
class AsyncNvmeTcpHostTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:async-host";
    static final int NSID = 1;
    static final int BLOCK = 4096;

    Gateway gateway;
    AsyncNvmeTcpHost host;

    @BeforeEach
    void start() throws Exception {
        var ns = new GatewaySpec.NamespaceSpec(NSID, new GatewaySpec.MemoryDevice(16L << 20), BLOCK, new byte[16],
                UUID.fromString("00000000-0000-0000-0000-000000000001"), 1);
        var sub = new GatewaySpec.SubsystemSpec(NQN, "ASYNC001", "vvolgate", true, List.of(), List.of(ns));
        gateway = Gateway.start(new GatewaySpec(List.of(sub), List.of(new GatewaySpec.ListenerSpec("127.0.0.1", 0, false)), 1));
        host = AsyncNvmeTcpHost.connect(AsyncNvmeTcpHost.Options.of("127.0.0.1", gateway.listeners().getFirst().port(), NQN, 2, 16));
    }

    @AfterEach
    void stop() {
        if (host != null) {
            host.close();
        }
        if (gateway != null) {
            gateway.close();
        }
    }

    /** Submits one command on the queue's event loop and waits for its status. */
    static int run(AsyncNvmeTcpQueue q, java.util.function.Predicate<AsyncNvmeTcpQueue.CompletionHandler> submit) throws Exception {
        CompletableFuture<Integer> status = new CompletableFuture<>();
        AsyncNvmeTcpQueue.CompletionHandler h = (queue, tag, st, r0) -> status.complete(st);
        q.eventLoop().execute(() -> {
            assertTrue(submit.test(h));
            q.flush();
        });
        return status.get(5, TimeUnit.SECONDS);
    }

    @Test
    void writesInCapsuleAndByR2tReadBackTheSameBytes() throws Exception {
        assertEquals(new AsyncNvmeTcpHost.NamespaceInfo(NSID, (16L << 20) / BLOCK, BLOCK), host.identifyNamespace(NSID));
        assertTrue(host.inCapsuleLimit() >= BLOCK, "a 4 KiB write fits the capsule");
        AsyncNvmeTcpQueue q = host.io(1);
        byte[] small = new byte[BLOCK];
        byte[] large = new byte[128 * 1024];   // larger than IOCCSZ: sent after an R2T
        new Random(1).nextBytes(small);
        new Random(2).nextBytes(large);
        ByteBuf src = PooledByteBufAllocator.DEFAULT.directBuffer(large.length);
        ByteBuf dst = PooledByteBufAllocator.DEFAULT.directBuffer(large.length);
        try {
            src.writeBytes(small);
            assertEquals(0, run(q, h -> q.write(NSID, 3, 1, src, 0, BLOCK, h, 0)));
            src.clear().writeBytes(large);
            assertEquals(0, run(q, h -> q.write(NSID, 64, large.length / BLOCK, src, 0, large.length, h, 0)));

            assertEquals(0, run(q, h -> q.read(NSID, 3, 1, BLOCK, dst, 0, h, 0)));
            assertArrayEquals(small, ByteBufUtil.getBytes(dst, 0, BLOCK));
            assertEquals(0, run(q, h -> q.read(NSID, 64, large.length / BLOCK, large.length, dst, 0, h, 0)));
            assertArrayEquals(large, ByteBufUtil.getBytes(dst, 0, large.length));
        } finally {
            src.release();
            dst.release();
        }
    }

    @Test
    void keepsAFullQueueInFlightAndRefusesWhenNoSlotIsFree() throws Exception {
        AsyncNvmeTcpQueue q = host.io(0);
        ByteBuf dst = PooledByteBufAllocator.DEFAULT.directBuffer(BLOCK * q.depth());
        int[] done = new int[1];
        boolean[] refused = new boolean[1];
        CompletableFuture<Integer> all = new CompletableFuture<>();
        AsyncNvmeTcpQueue.CompletionHandler h = (queue, tag, status, r0) -> {
            if (status != 0) {
                all.completeExceptionally(new AssertionError("status " + status));
            } else if (++done[0] == queue.depth()) {
                all.complete(done[0]);
            }
        };
        try {
            q.eventLoop().execute(() -> {
                for (int i = 0; i < q.depth(); i++) {
                    assertTrue(q.read(NSID, i, 1, BLOCK, dst, i * BLOCK, h, i));
                }
                refused[0] = !q.read(NSID, 0, 1, BLOCK, dst, 0, h, -1);
                q.flush();
            });
            assertEquals(q.depth(), all.get(5, TimeUnit.SECONDS));
            assertTrue(refused[0], "a submit beyond the depth returns false");
            assertEquals(q.depth(), q.eventLoop().submit(q::freeSlots).get());
        } finally {
            dst.release();
        }
    }

    @Test
    void closingCompletesCommandsInFlightWithConnectionLost() throws Exception {
        AsyncNvmeTcpQueue q = host.io(0);
        CompletableFuture<Integer> status = new CompletableFuture<>();
        AsyncNvmeTcpQueue.CompletionHandler h = (queue, tag, st, r0) -> status.complete(st);
        // Submitted but never flushed: no answer can come before the close.
        q.eventLoop().submit(() -> q.read(NSID, 0, 1, BLOCK, null, 0, h, 0)).get(5, TimeUnit.SECONDS);
        q.close();
        assertEquals(AsyncNvmeTcpQueue.STATUS_CONNECTION_LOST, status.get(5, TimeUnit.SECONDS));
        assertFalse(q.isOpen());
    }
}
