package io.vvolgate.gateway.device;

import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A scheduler on a fake clock, for deterministic tests of anything that arms timers: tasks run only when
 * the test calls {@link #runDue} or {@link #advanceTo}, on the test's thread, each one with the clock set
 * exactly to its due time. {@link #nanoTime} is the clock to give the code under test.
 *
 * <p>Only {@code execute} and the one-shot {@code schedule} are supported; not thread-safe (the code under
 * test calls it from the test thread, since everything runs there).
 */
final class ManualScheduler extends AbstractExecutorService implements ScheduledExecutorService {

    private final PriorityQueue<Task> tasks = new PriorityQueue<>();
    private long now;
    private long sequence;
    private int ran;

    /** The fake clock, in nanoseconds. */
    long nanoTime() {
        return now;
    }

    /** Tasks run so far (cancelled ones not counted). */
    int ran() {
        return ran;
    }

    /** Runs every task due at the current time, including ones those tasks schedule for now. */
    void runDue() {
        advanceTo(now);
    }

    /** Moves the clock forward to {@code time}, running each task due on the way at its due time. */
    void advanceTo(long time) {
        if (time < now) {
            throw new IllegalArgumentException("the clock cannot go back");
        }
        Task next;
        while ((next = tasks.peek()) != null && next.due <= time) {
            tasks.poll();
            if (next.cancelled) {
                continue;
            }
            now = Math.max(now, next.due);
            next.done = true;
            ran++;
            next.command.run();
        }
        now = time;
    }

    void advanceBy(long nanos) {
        advanceTo(now + nanos);
    }

    /** Tasks waiting, cancelled ones excluded. */
    long pending() {
        return tasks.stream().filter(t -> !t.cancelled).count();
    }

    @Override
    public void execute(Runnable command) {
        schedule(command, 0, TimeUnit.NANOSECONDS);
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
        Task task = new Task(command, now + Math.max(0, unit.toNanos(delay)), sequence++);
        tasks.add(task);
        return task;
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
        throw new UnsupportedOperationException();
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
        throw new UnsupportedOperationException();
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay,
                                                     TimeUnit unit) {
        throw new UnsupportedOperationException();
    }

    @Override
    public void shutdown() {
    }

    @Override
    public List<Runnable> shutdownNow() {
        return List.of();
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
        return true;
    }

    private final class Task implements ScheduledFuture<Object> {
        final Runnable command;
        final long due;
        final long order;
        boolean cancelled;
        boolean done;

        Task(Runnable command, long due, long order) {
            this.command = command;
            this.due = due;
            this.order = order;
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(due - now, TimeUnit.NANOSECONDS);
        }

        @Override
        public int compareTo(Delayed o) {
            Task other = (Task) o;
            int byDue = Long.compare(due, other.due);
            return byDue != 0 ? byDue : Long.compare(order, other.order);
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            if (done) {
                return false;
            }
            cancelled = true;
            return true;
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        @Override
        public boolean isDone() {
            return done || cancelled;
        }

        @Override
        public Object get() {
            return null;
        }

        @Override
        public Object get(long timeout, TimeUnit unit) {
            return null;
        }
    }
}
