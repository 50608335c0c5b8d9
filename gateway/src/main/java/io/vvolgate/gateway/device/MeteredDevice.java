package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.util.internal.PlatformDependent;

import java.util.Queue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The device an exported virtual volume is served through: it meters every command (counts, bytes, errors,
 * commands outstanding, latency histograms, read at scrape time through {@link #snapshot}) and enforces the
 * volume's QoS limits ({@link #setLimits}: commands per second and bytes per second), then passes the
 * command on to the volume's own device.
 *
 * <h2>A request's life</h2>
 * <pre>
 *                 submit                    limit allows / queue empty
 *   FREE (pool) ─────────▶ arrived ─────────────────────────────────────────────▶ SUBMITTED ──▶ COMPLETED
 *        ▲                    │ over the limit, or anything already queued             ▲          │
 *        │                    ▼                                                        │          │
 *        │                 QUEUED ──── the drain, on the scheduler, when its time comes ┘          │
 *        └────────────────────────────────────────── recycled before the caller's handler runs ────┘
 *   counted: QUEUED = {@link Stats#queued}, QUEUED + SUBMITTED = {@link Stats#inFlight},
 *            COMPLETED = reads + writes + others (and errors among them), throttled = ever QUEUED.
 * </pre>
 * A command over the limit is never refused: the host would only retry it. It waits in a FIFO queue, and
 * while anything waits every new command (flushes included) queues behind it, so the inner device sees
 * commands in arrival order and a flush never overtakes a write the host sent before it. A flush costs
 * nothing against the limits (it moves no data), so it only ever waits for the writes ahead of it.
 * Write-zeroes and deallocate count against the command limit but not the byte limit. Latency is measured
 * from arrival here to completion, throttling included: it is what the host sees.
 *
 * <h2>Limits</h2>
 * Two {@link TokenBucket}s (GCRA), one in commands and one in bytes, each allowing a burst of
 * {@code burstNanos} worth of its rate ahead of the clock (by default {@link #DEFAULT_BURST_NANOS}). A
 * command is admitted when both conform and is then charged to both. Limits change at any time and apply
 * at once, to queued commands too: raising or removing a limit releases the queue without waiting for a
 * timer armed under the old one.
 *
 * <h2>Threads</h2>
 * Any thread may submit, at once; the handler of the inner device may run on any thread, maybe before the
 * submitting call returns, and the caller's handler runs on that thread. Nothing on the path of a command
 * takes a lock or allocates: a per-request context comes from a pool of recycled {@link Request}s (the
 * pool only grows, by allocation, when more commands are outstanding than ever before), metrics are
 * {@link LongAdder}s, admission is a compare-and-set. The queue of throttled commands is intrusive (the
 * requests are its nodes) and lock-free, many producers and one consumer: the <em>drain</em>, which runs on
 * the scheduler given at construction and is serialized by a work-in-progress counter, so only one thread
 * ever dequeues. Throttled commands are dispatched to the inner device, and with an inline device also
 * completed, on the scheduler thread. Arming the scheduler's timer allocates its task object; that happens
 * at most once per wake-up of a throttled volume, never on the unthrottled path.
 *
 * <p>{@link #snapshot} may be called by any thread at any time; it reads each figure once without stopping
 * I/O, so figures of one snapshot may be a few commands apart.
 */
public final class MeteredDevice implements BlockDevice {

    /** Burst allowance of both limits: 100 ms worth of the rate may be admitted at once. */
    public static final long DEFAULT_BURST_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /**
     * Requests kept for reuse. Above this many outstanding commands on one volume, completing ones are left
     * to the garbage collector instead of the pool; an NVMe/TCP host rarely keeps more outstanding per
     * namespace.
     */
    public static final int POOL_CAPACITY = 1024;

    /** How soon the drain looks again when a producer had counted a request but not yet linked it. */
    static final long RELINK_RETRY_NANOS = TimeUnit.MICROSECONDS.toNanos(50);

    private static final int READ = 0;
    private static final int WRITE = 1;
    private static final int WRITE_ZEROES = 2;
    private static final int DEALLOCATE = 3;
    private static final int FLUSH = 4;

    /** The one handler given to the inner device; the request is the attachment, so nothing is captured. */
    private static final IoCompletion<Request> COMPLETED = (request, errno) -> request.device.completed(request, errno);

    private final BlockDevice inner;
    private final ScheduledExecutorService scheduler;
    private final LongSupplier nanoTime;
    private final long burstNanos;
    private final Queue<Request> pool = PlatformDependent.newFixedMpmcQueue(POOL_CAPACITY);
    private final Runnable drainTask = this::drain;

    private final LongAdder reads = new LongAdder();
    private final LongAdder writes = new LongAdder();
    private final LongAdder others = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder inFlight = new LongAdder();
    private final LongAdder throttled = new LongAdder();
    private final LatencyHistogram readLatency = new LatencyHistogram();
    private final LatencyHistogram writeLatency = new LatencyHistogram();
    private final LatencyHistogram otherLatency = new LatencyHistogram();

    private final TokenBucket commandBucket;
    private final TokenBucket byteBucket;

    /** Requests QUEUED (in the queue or held by the drain); while above 0 every new request queues too. */
    private final AtomicLong queued = new AtomicLong();
    /** Work-in-progress counter serializing {@link #drain}: only the caller that raised it from 0 drains. */
    private final AtomicInteger drainWork = new AtomicInteger();

    // The throttle queue, Vyukov's intrusive MPSC queue: producers swap themselves in at the tail and then
    // link the previous tail to themselves; the drain alone walks from the head. The sentinel node (never a
    // real request) keeps the queue non-empty so that a producer never has to touch the head.
    private final Request sentinel = new Request(this);
    private final AtomicReference<Request> queueTail = new AtomicReference<>(sentinel);
    /** Drain only. */
    private Request queueHead = sentinel;
    /** Drain only: dequeued, waiting for the limits to admit it. */
    private Request held;
    /** Drain (and close): the armed wake-up and the clock time it is due. */
    private volatile ScheduledFuture<?> timer;
    private long timerDue;

    /** A device metered and limited with the system clock and the default burst. */
    public MeteredDevice(BlockDevice inner, ScheduledExecutorService scheduler) {
        this(inner, scheduler, System::nanoTime, DEFAULT_BURST_NANOS);
    }

    /**
     * @param inner      the volume's device; closed by {@link #close}
     * @param scheduler  runs the drain of throttled commands; may be shared by all volumes. Its clock must
     *                   agree with {@code nanoTime} (tests pass a manual scheduler driven by a fake clock)
     * @param nanoTime   the clock of latencies and limits, {@code System::nanoTime} in production
     * @param burstNanos how far ahead of the clock each limit may admit, in nanoseconds of its rate (&gt;= 0)
     */
    public MeteredDevice(BlockDevice inner, ScheduledExecutorService scheduler, LongSupplier nanoTime,
                         long burstNanos) {
        if (burstNanos < 0) {
            throw new IllegalArgumentException("a burst allowance cannot be negative: " + burstNanos);
        }
        this.inner = inner;
        this.scheduler = scheduler;
        this.nanoTime = nanoTime;
        this.burstNanos = burstNanos;
        long now = nanoTime.getAsLong();
        this.commandBucket = new TokenBucket(now);
        this.byteBucket = new TokenBucket(now);
    }

    /**
     * Sets the QoS limits, effective at once (queued commands included).
     *
     * @param iopsLimit           commands per second, 0 for unlimited
     * @param bytesPerSecondLimit bytes read plus written per second, 0 for unlimited
     */
    public void setLimits(long iopsLimit, long bytesPerSecondLimit) {
        if (iopsLimit < 0 || bytesPerSecondLimit < 0) {
            throw new IllegalArgumentException("QoS limits cannot be negative: " + iopsLimit + " IOPS, "
                    + bytesPerSecondLimit + " bytes/s");
        }
        commandBucket.setRate(iopsLimit);
        byteBucket.setRate(bytesPerSecondLimit);
        if (queued.get() > 0) {
            // The armed timer was computed under the old limits; look at the queue again now.
            scheduler.execute(drainTask);
        }
    }

    public long iopsLimit() {
        return commandBucket.rate();
    }

    public long bytesPerSecondLimit() {
        return byteBucket.rate();
    }

    /** The device this one meters and limits. */
    public BlockDevice inner() {
        return inner;
    }

    @Override
    public long size() {
        return inner.size();
    }

    @Override
    public int blockSize() {
        return inner.blockSize();
    }

    @Override
    public boolean volatileWriteCache() {
        return inner.volatileWriteCache();
    }

    @Override
    public boolean readOnly() {
        return inner.readOnly();
    }

    @Override
    public DeviceHealth health() {
        return inner.health();
    }

    @Override
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        submit(READ, offset, length, dst, false, attachment, completion);
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                          IoCompletion<A> completion) {
        submit(WRITE, offset, length, src, fua, attachment, completion);
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        submit(WRITE_ZEROES, offset, length, null, fua, attachment, completion);
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        submit(DEALLOCATE, offset, length, null, false, attachment, completion);
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        submit(FLUSH, 0, 0, null, false, attachment, completion);
    }

    /** Cancels the drain's timer and closes the inner device. Called after all I/O has completed. */
    @Override
    public void close() {
        ScheduledFuture<?> t = timer;
        if (t != null) {
            t.cancel(false);
        }
        inner.close();
    }

    /** Every figure of this volume, read now. */
    public Stats snapshot() {
        return new Stats(reads.sum(), writes.sum(), others.sum(), bytesRead.sum(), bytesWritten.sum(),
                errors.sum(), Math.max(0, inFlight.sum()), Math.max(0, queued.get()), throttled.sum(),
                readLatency.snapshot(), writeLatency.snapshot(), otherLatency.snapshot(),
                commandBucket.rate(), byteBucket.rate());
    }

    /**
     * What a volume has done since it was opened, for the metrics scrape. Counters only grow; {@code inFlight}
     * and {@code queued} are gauges.
     *
     * @param reads          read commands completed (errors included)
     * @param writes         write commands completed (errors included)
     * @param others         write-zeroes, deallocate and flush commands completed (errors included)
     * @param bytesRead      bytes of reads that succeeded
     * @param bytesWritten   bytes of writes that succeeded (write-zeroes and deallocate move no data)
     * @param errors         commands that completed with an error
     * @param inFlight       commands outstanding now, throttled ones included: the queue depth the host sees
     * @param queued         commands waiting for the QoS limits now
     * @param throttled      commands that ever had to wait for the QoS limits
     * @param readLatency    arrival-to-completion latency of reads
     * @param writeLatency   arrival-to-completion latency of writes
     * @param otherLatency   arrival-to-completion latency of the other commands
     * @param iopsLimit      the command limit now, 0 if none
     * @param bytesPerSecondLimit the byte limit now, 0 if none
     */
    public record Stats(long reads, long writes, long others, long bytesRead, long bytesWritten, long errors,
                        long inFlight, long queued, long throttled,
                        LatencyHistogram.Snapshot readLatency, LatencyHistogram.Snapshot writeLatency,
                        LatencyHistogram.Snapshot otherLatency, long iopsLimit, long bytesPerSecondLimit) {
    }

    // ---------------------------------------------------------------------------------------------------
    // The command path

    private void submit(int kind, long offset, long length, ByteBuf buffer, boolean fua, Object attachment,
                        IoCompletion<?> completion) {
        long now = nanoTime.getAsLong();
        Request request = pool.poll();
        if (request == null) {
            request = new Request(this);
        }
        request.set(kind, offset, length, buffer, fua, attachment, completion, now);
        inFlight.increment();
        if (queued.get() == 0 && admit(request, now) == 0) {
            dispatch(request);
            return;
        }
        throttled.increment();
        long ahead = queued.getAndIncrement();
        enqueue(request);
        if (ahead == 0) {
            // The queue was empty, so no drain is armed: start one.
            scheduler.execute(drainTask);
        }
    }

    /** Admits and charges the request if both limits allow it now; else returns how long until they would. */
    private long admit(Request request, long now) {
        if (request.kind == FLUSH) {
            return 0;
        }
        long bytes = request.kind == READ || request.kind == WRITE ? request.length : 0;
        long wait = commandBucket.waitNanos(now, burstNanos);
        if (bytes > 0) {
            wait = Math.max(wait, byteBucket.waitNanos(now, burstNanos));
        }
        if (wait > 0) {
            return wait;
        }
        commandBucket.take(1, now);
        byteBucket.take(bytes, now);
        return 0;
    }

    private void dispatch(Request r) {
        switch (r.kind) {
            case READ -> inner.read(r.offset, (int) r.length, r.buffer, r, COMPLETED);
            case WRITE -> inner.write(r.offset, (int) r.length, r.buffer, r.fua, r, COMPLETED);
            case WRITE_ZEROES -> inner.writeZeroes(r.offset, r.length, r.fua, r, COMPLETED);
            case DEALLOCATE -> inner.deallocate(r.offset, r.length, r, COMPLETED);
            default -> inner.flush(r, COMPLETED);
        }
    }

    private void completed(Request r, int errno) {
        long latency = nanoTime.getAsLong() - r.startNanos;
        boolean ok = errno == IoCompletion.OK;
        switch (r.kind) {
            case READ -> {
                reads.increment();
                if (ok) {
                    bytesRead.add(r.length);
                }
                readLatency.record(latency);
            }
            case WRITE -> {
                writes.increment();
                if (ok) {
                    bytesWritten.add(r.length);
                }
                writeLatency.record(latency);
            }
            default -> {
                others.increment();
                otherLatency.record(latency);
            }
        }
        if (!ok) {
            errors.increment();
        }
        Object attachment = r.attachment;
        IoCompletion<Object> completion = r.completion;
        r.clear();
        // Recycled before the caller's handler runs: a handler that submits the next command reuses it.
        pool.offer(r);
        inFlight.decrement();
        completion.completed(attachment, errno);
    }

    // ---------------------------------------------------------------------------------------------------
    // The throttle queue and its drain

    private void enqueue(Request r) {
        r.next = null;
        Request previous = queueTail.getAndSet(r);
        previous.next = r;
    }

    /**
     * Takes the oldest queued request, or returns null if there is none or if the producer that is adding
     * the next one has not linked it yet (the caller looks again later). Drain only.
     */
    private Request dequeue() {
        Request head = queueHead;
        Request next = head.next;
        if (head == sentinel) {
            if (next == null) {
                return null;
            }
            queueHead = next;
            head = next;
            next = next.next;
        }
        if (next != null) {
            queueHead = next;
            return head;
        }
        if (head != queueTail.get()) {
            return null;
        }
        // head is the last node: put the sentinel behind it so that it can be taken out.
        enqueue(sentinel);
        next = head.next;
        if (next != null) {
            queueHead = next;
            return head;
        }
        return null;
    }

    /** Runs on the scheduler; serialized, so that only one thread ever dequeues. */
    private void drain() {
        if (drainWork.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            drainDue();
            missed = drainWork.addAndGet(-missed);
        } while (missed != 0);
    }

    /** Dispatches queued requests in order while the limits admit them, then arms the timer for the next. */
    private void drainDue() {
        while (queued.get() > 0) {
            Request r = held;
            if (r == null) {
                r = dequeue();
                if (r == null) {
                    arm(nanoTime.getAsLong() + RELINK_RETRY_NANOS);
                    return;
                }
                held = r;
            }
            long now = nanoTime.getAsLong();
            long wait = admit(r, now);
            if (wait > 0) {
                arm(now + wait);
                return;
            }
            held = null;
            try {
                dispatch(r);
            } catch (RuntimeException e) {
                // A device must report errors through the handler; one that throws must not stop the drain
                // (every later command of the volume would hang), so the command fails instead.
                completed(r, IoCompletion.EIO);
            }
            // Only after the dispatch: until then a new command must queue, not overtake this one.
            if (queued.decrementAndGet() == 0) {
                return;
            }
        }
    }

    /** Makes sure the drain runs again at {@code due}. Drain only. */
    private void arm(long due) {
        long now = nanoTime.getAsLong();
        ScheduledFuture<?> armed = timer;
        boolean pending = armed != null && timerDue - now > 0;
        if (pending && timerDue - due <= 0) {
            return;
        }
        if (pending) {
            armed.cancel(false);
        }
        timerDue = due;
        timer = scheduler.schedule(drainTask, Math.max(0, due - now), TimeUnit.NANOSECONDS);
    }

    /**
     * One command's context from arrival to completion, recycled through the pool; also a node of the
     * throttle queue. Written by the submitting thread before it is published (to the inner device, the
     * queue or the pool), read by whoever completes or drains it.
     */
    static final class Request {
        final MeteredDevice device;
        int kind;
        long offset;
        long length;
        ByteBuf buffer;
        boolean fua;
        Object attachment;
        IoCompletion<Object> completion;
        long startNanos;
        volatile Request next;

        Request(MeteredDevice device) {
            this.device = device;
        }

        @SuppressWarnings("unchecked")
        void set(int kind, long offset, long length, ByteBuf buffer, boolean fua, Object attachment,
                 IoCompletion<?> completion, long startNanos) {
            this.kind = kind;
            this.offset = offset;
            this.length = length;
            this.buffer = buffer;
            this.fua = fua;
            this.attachment = attachment;
            this.completion = (IoCompletion<Object>) completion;
            this.startNanos = startNanos;
        }

        /** Drops the references to the caller's objects, so a pooled request keeps nothing alive. */
        void clear() {
            buffer = null;
            attachment = null;
            completion = null;
        }
    }
}
