package io.vvolgate.gateway.io;

import com.lmax.disruptor.BatchEventProcessor;
import com.lmax.disruptor.BatchEventProcessorBuilder;
import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.EventTranslatorTwoArg;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.ProducerType;
import io.vvolgate.gateway.fabrics.NvmeRequest;

import java.util.concurrent.atomic.LongAdder;

/**
 * A device reactor: one thread that owns the I/O-side state of the namespaces assigned to it (their
 * ordering state for fused commands, their device queues) and executes their commands. Transport threads
 * publish requests into the reactor's Disruptor ring; the reactor runs them in order, batch by batch.
 *
 * <pre>
 *  event loop ─┐
 *  event loop ─┼─ tryPublish ──> [ ring (MULTI producer) ] ──> reactor thread: work.execute(request)
 *  device thr ─┘   (continuations of asynchronous device completions come back the same way)
 * </pre>
 *
 * <p>Wait strategy: {@link BlockingWaitStrategy}. On this appliance's small machines the reactor shares
 * cores with the event loops, so a spinning or yielding reactor would take CPU from the very threads that
 * feed it; a blocked reactor costs one wake-up per batch, and batches grow with load.
 *
 * <p>Backpressure: {@link #tryExecute} returns false when the ring is full; the caller answers the host with a
 * retryable status. Every such rejection is counted.
 */
public final class IoReactor implements AutoCloseable {

    /** Work that runs on the reactor thread for one request. Implementations are long-lived, not per request. */
    @FunctionalInterface
    public interface Work {
        void execute(NvmeRequest request);
    }

    /** A pre-allocated ring slot. */
    static final class Slot {
        NvmeRequest request;
        Work work;
    }

    private static final EventTranslatorTwoArg<Slot, NvmeRequest, Work> TRANSLATOR = (slot, seq, request, work) -> {
        slot.request = request;
        slot.work = work;
    };

    private final String name;
    private final RingBuffer<Slot> ring;
    private final BatchEventProcessor<Slot> processor;
    private final Thread thread;
    private final LongAdder rejected = new LongAdder();
    private final LongAdder executed = new LongAdder();
    private final LongAdder batches = new LongAdder();

    public IoReactor(String name, int ringSize) {
        this.name = name;
        this.ring = RingBuffer.create(ProducerType.MULTI, Slot::new, ringSize, new BlockingWaitStrategy());
        EventHandler<Slot> handler = new EventHandler<>() {
            @Override
            public void onEvent(Slot slot, long sequence, boolean endOfBatch) {
                NvmeRequest request = slot.request;
                Work work = slot.work;
                slot.request = null;
                slot.work = null;
                executed.increment();
                if (endOfBatch) {
                    batches.increment();
                }
                work.execute(request);
            }
        };
        this.processor = new BatchEventProcessorBuilder().build(ring, ring.newBarrier(), handler);
        ring.addGatingSequences(processor.getSequence());
        this.thread = new Thread(processor, name);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** Queues {@code work} for {@code request} on this reactor; false if the ring is full (counted). Any thread. */
    public boolean tryExecute(NvmeRequest request, Work work) {
        if (ring.tryPublishEvent(TRANSLATOR, request, work)) {
            return true;
        }
        rejected.increment();
        return false;
    }

    /**
     * Queues a continuation that must not be lost (e.g. a device completion that releases ordering state);
     * waits for space if the ring is full. Never call it from the reactor thread itself.
     */
    public void execute(NvmeRequest request, Work work) {
        ring.publishEvent(TRANSLATOR, request, work);
    }

    /** True on this reactor's own thread. */
    public boolean inReactor() {
        return Thread.currentThread() == thread;
    }

    public String name() {
        return name;
    }

    public long rejected() {
        return rejected.sum();
    }

    public long executed() {
        return executed.sum();
    }

    public long batches() {
        return batches.sum();
    }

    /** Stops after the work already queued has run. */
    @Override
    public void close() {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (processor.getSequence().get() < ring.getCursor() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        processor.halt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
