package io.vvolgate.gateway.transport.tcp;

import io.netty.util.concurrent.DefaultThreadFactory;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * JMH's benchmark threads, made as Netty makes its event loop threads ({@code FastThreadLocalThread}s). Netty 4.2
 * keeps its per-thread object pools (the {@code Recycler} behind pooled buffers, slices and outbound entries) only on
 * such threads; on a plain thread every recycled object is allocated anew, which is not what the appliance's event
 * loops see. Selected with {@code -Djmh.executor=CUSTOM -Djmh.executor.class=<this class>}.
 */
public final class EventLoopLikeExecutor extends ThreadPoolExecutor {
    public EventLoopLikeExecutor(int maxThreads, String prefix) {
        super(maxThreads, maxThreads, 1, TimeUnit.MINUTES, new LinkedBlockingQueue<>(),
                new DefaultThreadFactory(prefix, true));
    }
}
