package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.io.DataBuffers;
import io.vvolgate.gateway.io.IoReactor;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Status;

import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Executes the NVM command set I/O commands of one namespace on its device reactor: Read, Write, Flush,
 * Write Zeroes, Dataset Management, Compare, and the fused Compare-and-Write pair.
 *
 * <p>Thread: everything but {@link #submit} runs on the reactor thread, which owns the ordering state
 * below. Device completions that arrive on another thread come back to the reactor as continuations.
 *
 * <p>Atomicity of Compare-and-Write (VMFS takes its locks with it): a fused pair waits until no write of
 * this namespace is in flight, then marks its LBA range busy; writes that overlap a busy range wait in
 * {@link #deferred} until the pair's write has completed. So no other write can land between the compare
 * and the write, and none is half-applied while the compare reads.
 *
 * <p>Run to completion: on a device that {@link BlockDevice#completesInline() completes inline} (memory),
 * Read, Write and Flush run on the thread that submits them (the connection's event loop), with no hand-off
 * to the reactor and back: the hand-off, two thread wake-ups per batch, was most of the cost of a memory
 * I/O. Reads and flushes touch no ordering state. Inline writes are counted in {@link #inlineWrites}, whose
 * top bit is the <em>write fence</em>:
 * <pre>
 *   inlineWrites:  bit 31 FENCED | bits 30..0 inline writes running now
 *   transport thread, Write:  CAS n -> n + 1 only while FENCED is clear; else the write goes to the reactor
 *                             ... device write ... then n -> n - 1; the one that leaves exactly FENCED wakes
 *                             the reactor ({@link #onInlineDrained})
 *   reactor, fused pair:      sets FENCED, then starts the pair only once the count is 0 (else it waits in
 *                             {@link #deferred}); clears FENCED when no pair is running or waiting
 * </pre>
 * While the fence is up every write takes the reactor path above, so the pair's range fencing holds as
 * before. The cost on the inline path is one compare-and-set and one decrement per write, no lock.
 */
final class NamespaceIo implements IoReactor.Work {
    private static final int MAX_FUSED = 64;
    /** The write fence bit of {@link #inlineWrites}. */
    private static final int FENCED = 1 << 31;

    private final Namespace ns;
    private final BlockDevice device;
    private final IoReactor reactor;

    // Reactor-thread state.
    private int writesInFlight;
    private final long[] fusedStart = new long[MAX_FUSED];
    private final long[] fusedEnd = new long[MAX_FUSED];
    private int fusedCount;
    private final ArrayDeque<NvmeRequest> deferred = new ArrayDeque<>();
    private boolean draining;
    /** Fused pairs waiting in {@link #deferred}; the fence stays up while any pair runs or waits. */
    private int fusedDeferred;

    /** True if Read, Write and Flush run on the submitting thread (see the class comment). */
    private final boolean inline;
    /** The write fence and the count of inline writes running; any thread. */
    private final AtomicInteger inlineWrites = new AtomicInteger();
    private final IoReactor.Work inlineDrained = r -> onInlineDrained();

    NamespaceIo(Namespace ns, IoReactor reactor) {
        this.ns = ns;
        this.device = ns.device();
        this.reactor = reactor;
        this.inline = device.completesInline();
    }

    IoReactor reactor() {
        return reactor;
    }

    /** True if this namespace runs Read, Write and Flush on the submitting thread. */
    boolean runsInline() {
        return inline;
    }

    /** Hands a validated request to the reactor, or runs it here (see the class comment). Transport thread. */
    void submit(NvmeRequest r) {
        r.coreContext = this;
        if (inline) {
            switch (r.opcode()) {
                case Opcodes.IO_READ -> {
                    read(r);
                    return;
                }
                case Opcodes.IO_FLUSH -> {
                    device.flush(r, FLUSH_DONE);
                    return;
                }
                case Opcodes.IO_WRITE -> {
                    for (int n = inlineWrites.get(); n >= 0; n = inlineWrites.get()) {
                        if (inlineWrites.compareAndSet(n, n + 1)) {
                            writeInline(r);
                            return;
                        }
                    }
                    // The fence is up: the reactor path orders this write against the pair.
                }
                default -> { }
            }
        }
        if (!reactor.tryExecute(r, this)) {
            // The ring is full: a retryable status, so the host tries again.
            finish(r, Status.NAMESPACE_NOT_READY);
        }
    }

    @Override
    public void execute(NvmeRequest r) {
        if (r.coreContext instanceof FusedPair pair) {
            startFused(pair);
            return;
        }
        switch (r.opcode()) {
            case Opcodes.IO_READ -> read(r);
            case Opcodes.IO_WRITE, Opcodes.IO_WRITE_ZEROES, Opcodes.IO_DATASET_MANAGEMENT -> startWrite(r);
            case Opcodes.IO_COMPARE -> compare(r);
            case Opcodes.IO_FLUSH -> device.flush(r, FLUSH_DONE);
            default -> finish(r, Status.INVALID_OPCODE);
        }
    }

    // --- reads and compares: no ordering state ---

    private void read(NvmeRequest r) {
        long slba = slba(r);
        int blocks = blocks(r);
        ns.readCommands.increment();
        ns.blocksRead.add(blocks);
        device.read(slba << ns.blockShift(), blocks << ns.blockShift(), r.data(), r, READ_DONE);
    }

    private static final IoCompletion<NvmeRequest> READ_DONE = (r, errno) -> {
        NamespaceIo io = (NamespaceIo) r.coreContext;
        if (errno != IoCompletion.OK) {
            io.ns.mediaErrors.increment();
        }
        io.finish(r, errno == IoCompletion.OK ? Status.SUCCESS : readStatus(errno));
    };

    private void compare(NvmeRequest r) {
        int length = blocks(r) << ns.blockShift();
        ByteBuf media = DataBuffers.ALLOCATOR.directBuffer(length, length);
        r.coreContext = new CompareState(this, r, media, null);
        device.read(slba(r) << ns.blockShift(), length, media, (CompareState) r.coreContext, COMPARE_READ_DONE);
    }

    /** A compare in progress; for a fused pair {@code write} is the second command. */
    private record CompareState(NamespaceIo io, NvmeRequest compare, ByteBuf media, FusedPair pair) {
    }

    private static final IoReactor.Work FUSED_COMPARED_ON_REACTOR = r -> {
        FusedPair pair = (FusedPair) r.coreContext;
        pair.io.onFusedCompared(pair, pair.compareStatus);
    };

    private static final IoCompletion<CompareState> COMPARE_READ_DONE = (c, errno) -> {
        NvmeRequest r = c.compare;
        int status;
        try {
            if (errno != IoCompletion.OK) {
                status = readStatus(errno);
            } else {
                ByteBuf data = r.data();
                int length = blocks(r) << c.io.ns.blockShift();
                status = ByteBufUtil.equals(data, data.readerIndex(), c.media, 0, length) ? Status.SUCCESS : Status.COMPARE_FAILURE;
            }
        } finally {
            c.media.release();
        }
        if (c.pair == null) {
            c.io.finish(r, status);
        } else if (c.io.reactor.inReactor()) {
            c.io.onFusedCompared(c.pair, status);
        } else {
            // The fused pair's ordering state belongs to the reactor thread: continue there.
            c.pair.compareStatus = status;
            c.io.reactor.execute(c.pair.compare, FUSED_COMPARED_ON_REACTOR);
        }
    };


    // --- writes: counted, and held back while an overlapping fused pair runs ---

    private void startWrite(NvmeRequest r) {
        long first;
        long last;
        if (r.opcode() == Opcodes.IO_DATASET_MANAGEMENT) {
            first = 0;
            last = Long.MAX_VALUE;
        } else {
            first = slba(r);
            last = first + blocks(r) - 1;
        }
        if (fusedCount > 0 && overlapsFused(first, last)) {
            deferred.add(r);
            return;
        }
        writesInFlight++;
        r.coreContext = this;
        switch (r.opcode()) {
            case Opcodes.IO_WRITE -> {
                int blocks = blocks(r);
                ns.writeCommands.increment();
                ns.blocksWritten.add(blocks);
                device.write(first << ns.blockShift(), blocks << ns.blockShift(), r.data(), fua(r), r, WRITE_DONE);
            }
            case Opcodes.IO_WRITE_ZEROES -> {
                long length = (long) blocks(r) << ns.blockShift();
                device.writeZeroes(first << ns.blockShift(), length, fua(r), r, WRITE_DONE);
            }
            default -> deallocateRanges(r);
        }
    }

    private static final IoReactor.Work WRITE_DONE_ON_REACTOR = r -> ((NamespaceIo) r.coreContext).writeDone(r);

    private static final IoCompletion<NvmeRequest> WRITE_DONE = (r, errno) -> {
        NamespaceIo io = (NamespaceIo) r.coreContext;
        if (errno != IoCompletion.OK) {
            io.ns.mediaErrors.increment();
        }
        r.setStatus(errno == IoCompletion.OK ? Status.SUCCESS : writeStatus(errno));
        if (io.reactor.inReactor()) {
            io.writeDone(r);
        } else {
            io.reactor.execute(r, WRITE_DONE_ON_REACTOR);
        }
    };

    private void writeInline(NvmeRequest r) {
        long first = slba(r);
        int blocks = blocks(r);
        ns.writeCommands.increment();
        ns.blocksWritten.add(blocks);
        device.write(first << ns.blockShift(), blocks << ns.blockShift(), r.data(), fua(r), r, WRITE_INLINE_DONE);
    }

    private static final IoCompletion<NvmeRequest> WRITE_INLINE_DONE = (r, errno) -> {
        NamespaceIo io = (NamespaceIo) r.coreContext;
        if (errno != IoCompletion.OK) {
            io.ns.mediaErrors.increment();
        }
        // The write is applied: leave the count before answering, so a waiting pair can start.
        if (io.inlineWrites.decrementAndGet() == FENCED) {
            io.reactor.execute(null, io.inlineDrained);
        }
        io.finish(r, errno == IoCompletion.OK ? Status.SUCCESS : writeStatus(errno));
    };

    /** The last inline write before a fence has finished: the waiting pair may start. Reactor thread. */
    private void onInlineDrained() {
        runDeferred();
    }

    /**
     * Raises the write fence for a pair about to start; true if no inline write is running, i.e. the pair
     * may start now (else the last of them calls {@link #onInlineDrained}). Reactor thread.
     */
    private boolean fenceInlineWrites() {
        if (!inline) {
            return true;
        }
        int n;
        do {
            n = inlineWrites.get();
        } while (n >= 0 && !inlineWrites.compareAndSet(n, n | FENCED));
        return (inlineWrites.get() & ~FENCED) == 0;
    }

    /** Lowers the fence once no pair runs or waits. Reactor thread. */
    private void liftFenceIfIdle() {
        if (inline && fusedCount == 0 && fusedDeferred == 0) {
            // Nothing can have entered while the fence was up, and the pair started only after the count was
            // 0: the value is exactly FENCED.
            inlineWrites.compareAndSet(FENCED, 0);
        }
    }

    private void writeDone(NvmeRequest r) {
        writesInFlight--;
        int status = r.status();
        finish(r, status);
        runDeferred();
    }

    /** Dataset Management: ranges of 16 bytes (attributes u32, length in LBAs u32, starting LBA u64). */
    private void deallocateRanges(NvmeRequest r) {
        boolean deallocate = (r.cdw(11) & (1 << 2)) != 0;
        int ranges = (r.cdw(10) & 0xFF) + 1;
        ByteBuf data = r.data();
        int base = data.readerIndex();
        if (!deallocate) {
            // Only the deallocate attribute changes anything; hints are accepted and ignored.
            WRITE_DONE.completed(r, IoCompletion.OK);
            return;
        }
        r.coreContext = new DeallocateState(this, r, ranges, base);
        ((DeallocateState) r.coreContext).next(IoCompletion.OK);
    }

    /** Deallocates the ranges one after another; each completion starts the next. */
    private static final class DeallocateState implements IoCompletion<DeallocateState> {
        final NamespaceIo io;
        final NvmeRequest r;
        final int ranges;
        final int base;
        int index;

        DeallocateState(NamespaceIo io, NvmeRequest r, int ranges, int base) {
            this.io = io;
            this.r = r;
            this.ranges = ranges;
            this.base = base;
        }

        void next(int errno) {
            while (errno == IoCompletion.OK && index < ranges) {
                int at = base + index * 16;
                index++;
                long blocks = r.data().getUnsignedIntLE(at + 4);
                long slba = r.data().getLongLE(at + 8);
                if (blocks == 0) {
                    continue;
                }
                io.device.deallocate(slba << io.ns.blockShift(), blocks << io.ns.blockShift(), this, this);
                return;
            }
            r.coreContext = io;
            WRITE_DONE.completed(r, errno);
        }

        @Override
        public void completed(DeallocateState self, int errno) {
            next(errno);
        }
    }

    // --- fused Compare-and-Write ---

    /** The two commands of a fused pair, as {@link QueuePair} hands them over (first = Compare, second = Write). */
    static final class FusedPair {
        final NvmeRequest compare;
        final NvmeRequest write;
        NamespaceIo io;
        long first;
        long last;
        int compareStatus;

        FusedPair(NvmeRequest compare, NvmeRequest write) {
            this.compare = compare;
            this.write = write;
        }
    }

    void submitFused(FusedPair pair) {
        pair.io = this;
        pair.compare.coreContext = pair;
        pair.write.coreContext = pair;
        if (!reactor.tryExecute(pair.compare, this)) {
            pair.compare.coreContext = null;
            pair.write.coreContext = null;
            finish(pair.compare, Status.NAMESPACE_NOT_READY);
            finish(pair.write, Status.ABORTED_FAILED_FUSED);
        }
    }

    private void startFused(FusedPair pair) {
        pair.first = slba(pair.compare);
        pair.last = pair.first + blocks(pair.compare) - 1;
        boolean inlineIdle = fenceInlineWrites();
        if (!inlineIdle || writesInFlight > 0 || overlapsFused(pair.first, pair.last) || fusedCount == MAX_FUSED) {
            fusedDeferred++;
            deferred.add(pair.compare);
            return;
        }
        fusedStart[fusedCount] = pair.first;
        fusedEnd[fusedCount] = pair.last;
        fusedCount++;
        int length = blocks(pair.compare) << ns.blockShift();
        ByteBuf media = DataBuffers.ALLOCATOR.directBuffer(length, length);
        CompareState state = new CompareState(this, pair.compare, media, pair);
        device.read(pair.first << ns.blockShift(), length, media, state, COMPARE_READ_DONE);
    }

    private void onFusedCompared(FusedPair pair, int compareStatus) {
        if (compareStatus != Status.SUCCESS) {
            fusedFinished(pair, compareStatus, Status.ABORTED_FAILED_FUSED);
            return;
        }
        NvmeRequest w = pair.write;
        int blocks = blocks(w);
        ns.writeCommands.increment();
        ns.blocksWritten.add(blocks);
        device.write(pair.first << ns.blockShift(), blocks << ns.blockShift(), w.data(), fua(w), pair, FUSED_WRITE_DONE);
    }

    private static final IoReactor.Work FUSED_DONE_ON_REACTOR = w -> {
        FusedPair pair = (FusedPair) w.coreContext;
        pair.io.fusedFinished(pair, Status.SUCCESS, w.status());
    };

    private static final IoCompletion<FusedPair> FUSED_WRITE_DONE = (pair, errno) -> {
        int status = errno == IoCompletion.OK ? Status.SUCCESS : writeStatus(errno);
        if (pair.io.reactor.inReactor()) {
            pair.io.fusedFinished(pair, Status.SUCCESS, status);
        } else {
            pair.write.setStatus(status);
            pair.io.reactor.execute(pair.write, FUSED_DONE_ON_REACTOR);
        }
    };

    private void fusedFinished(FusedPair pair, int compareStatus, int writeStatus) {
        for (int i = 0; i < fusedCount; i++) {
            if (fusedStart[i] == pair.first && fusedEnd[i] == pair.last) {
                fusedCount--;
                fusedStart[i] = fusedStart[fusedCount];
                fusedEnd[i] = fusedEnd[fusedCount];
                break;
            }
        }
        // The fence comes down before the host hears of the pair, so a write it sends on seeing the completion
        // runs inline again (not a rule of NVMe; what the host would expect of an idle namespace).
        liftFenceIfIdle();
        finish(pair.compare, compareStatus);
        finish(pair.write, writeStatus);
        runDeferred();
        liftFenceIfIdle();
    }

    private boolean overlapsFused(long first, long last) {
        for (int i = 0; i < fusedCount; i++) {
            if (first <= fusedEnd[i] && fusedStart[i] <= last) {
                return true;
            }
        }
        return false;
    }

    /** Gives deferred commands another go, in arrival order; those still blocked go back. */
    private void runDeferred() {
        if (deferred.isEmpty() || draining) {
            return;
        }
        draining = true;
        try {
            for (int n = deferred.size(); n > 0; n--) {
                NvmeRequest r = deferred.poll();
                if (r.coreContext instanceof FusedPair) {
                    fusedDeferred--;
                }
                execute(r);
            }
        } finally {
            draining = false;
        }
        liftFenceIfIdle();
    }

    // --- helpers ---

    private static final IoCompletion<NvmeRequest> FLUSH_DONE = (r, errno) ->
            ((NamespaceIo) r.coreContext).finish(r, errno == IoCompletion.OK ? Status.SUCCESS : Status.WRITE_FAULT);

    private void finish(NvmeRequest r, int status) {
        r.setStatus(status);
        if (status == Status.SUCCESS && r.dataDirection() == NvmeRequest.DIR_C2H) {
            r.data().writerIndex(r.dataLength());
        }
        r.complete();
    }

    static long slba(NvmeRequest r) {
        return (r.cdw(10) & 0xFFFFFFFFL) | ((long) r.cdw(11) << 32);
    }

    static int blocks(NvmeRequest r) {
        return (r.cdw(12) & 0xFFFF) + 1;
    }

    static boolean fua(NvmeRequest r) {
        return (r.cdw(12) & (1 << 30)) != 0;
    }

    private static int readStatus(int errno) {
        return switch (errno) {
            case IoCompletion.ERANGE -> Status.LBA_OUT_OF_RANGE;
            case IoCompletion.EAGAIN -> Status.NAMESPACE_NOT_READY;
            default -> Status.UNRECOVERED_READ_ERROR;
        };
    }

    private static int writeStatus(int errno) {
        return switch (errno) {
            case IoCompletion.ERANGE -> Status.LBA_OUT_OF_RANGE;
            case IoCompletion.ENOSPC -> Status.CAPACITY_EXCEEDED;
            case IoCompletion.EROFS -> Status.NAMESPACE_WRITE_PROTECTED;
            case IoCompletion.EAGAIN -> Status.NAMESPACE_NOT_READY;
            default -> Status.WRITE_FAULT;
        };
    }
}
