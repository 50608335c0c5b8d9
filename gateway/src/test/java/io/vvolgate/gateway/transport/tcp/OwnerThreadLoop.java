package io.vvolgate.gateway.transport.tcp;

import io.netty.util.concurrent.AbstractEventExecutor;
import io.netty.util.concurrent.DefaultPromise;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * The event loop of a {@link TcpConnection} in an {@code EmbeddedChannel} test that runs the real core: the
 * test thread is the loop's thread, and tasks from other threads (completions from the device reactors and
 * the target's timer) wait in a concurrent queue until the test thread runs them with {@link #runTasks()}.
 *
 * <p>{@code EmbeddedEventLoop} queues tasks in an {@code ArrayDeque}, so it must not be fed from the core's
 * threads; add the connection with {@code pipeline().addLast(loop, name, connection)} instead. Everything
 * the pipeline calls on the test thread still runs inline, as in any {@code EmbeddedChannel} test.
 */
final class OwnerThreadLoop extends AbstractEventExecutor {
    private final Thread owner = Thread.currentThread();
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final DefaultPromise<Void> termination = new DefaultPromise<>(GlobalEventExecutor.INSTANCE);

    /** Runs the tasks queued so far and those they queue; returns how many ran. Owner thread only. */
    int runTasks() {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("only the owner thread runs the loop's tasks");
        }
        int ran = 0;
        Runnable task;
        while ((task = tasks.poll()) != null) {
            task.run();
            ran++;
        }
        return ran;
    }

    boolean hasTasks() {
        return !tasks.isEmpty();
    }

    @Override
    public boolean inEventLoop(Thread thread) {
        return thread == owner;
    }

    @Override
    public void execute(Runnable task) {
        tasks.add(task);
    }

    @Override
    public boolean isShuttingDown() {
        return false;
    }

    @Override
    public Future<?> shutdownGracefully(long quietPeriod, long timeout, TimeUnit unit) {
        return termination;
    }

    @Override
    public Future<?> terminationFuture() {
        return termination;
    }

    @Override
    @Deprecated
    public void shutdown() {
    }

    @Override
    public boolean isShutdown() {
        return false;
    }

    @Override
    public boolean isTerminated() {
        return false;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
        return false;
    }
    /**
     * Timers never fire here: the fuzz cases run far shorter than any timeout the connection arms (the
     * connect timeout), and timeouts are tested over real sockets. The returned future just never completes.
     */
    @Override
    public io.netty.util.concurrent.ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
        return new NeverFiring<>(this);
    }

    private static final class NeverFiring<V> extends DefaultPromise<V> implements io.netty.util.concurrent.ScheduledFuture<V> {
        NeverFiring(OwnerThreadLoop loop) {
            super(loop);
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return Long.MAX_VALUE;
        }

        @Override
        public int compareTo(java.util.concurrent.Delayed o) {
            return 0;
        }
    }
}
