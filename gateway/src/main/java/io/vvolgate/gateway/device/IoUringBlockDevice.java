package io.vvolgate.gateway.device;

import com.lmax.disruptor.EventPoller;
import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.ProducerType;
import io.netty.buffer.ByteBuf;
import io.vvolgate.bindings.NativeSymbols;
import io.vvolgate.bindings.libc.errno_h;
import io.vvolgate.bindings.libc.fcntl_h;
import io.vvolgate.bindings.libc.string_h;
import io.vvolgate.bindings.libc.sys_eventfd_h;
import io.vvolgate.bindings.libc.sys_ioctl_h;
import io.vvolgate.bindings.libc.sys_mman_h;
import io.vvolgate.bindings.libc.unistd_h;
import io.vvolgate.bindings.linux.io_uring.io_cqring_offsets;
import io.vvolgate.bindings.linux.io_uring.io_sqring_offsets;
import io.vvolgate.bindings.linux.io_uring.io_uring_cqe;
import io.vvolgate.bindings.linux.io_uring.io_uring_h;
import io.vvolgate.bindings.linux.io_uring.io_uring_params;
import io.vvolgate.bindings.linux.io_uring.io_uring_sqe;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A device on a regular file or a kernel block device, through io_uring driven directly from Java: the
 * rings are {@code mmap}'d as {@link MemorySegment}s and the three io_uring system calls are made through
 * the FFM bindings of {@code vvolgate-bindings} (no liburing; bindings/README.md says why).
 *
 * <pre>
 *   any thread ──submit──> [ hand-off ring (Disruptor, MULTI producer) ] ──poll──> reactor thread
 *        │  eventfd_write, only if the reactor sleeps                          │ SQEs, one io_uring_enter per batch
 *        └─────────────────────────────> eventfd ──(armed READ in the ring)──> │ CQEs ──> IoCompletion.completed
 * </pre>
 *
 * <p>Threads: one reactor thread per device owns the ring, the in-flight slots and their bounce buffers;
 * nothing else touches them. Its {@link #doWork()} reaps completions (calling the handlers, on the reactor
 * thread), moves submitted requests into free slots, writes their SQEs and submits them all with one
 * {@code io_uring_enter}. When it has nothing to do it sleeps in {@code io_uring_enter(GETEVENTS)}; a READ of
 * an eventfd is kept in the ring so that a submitter can wake it, which it does only when the reactor has
 * said it is going to sleep. Requests run in no particular order (the SPI promises none).
 *
 * <p>Direct I/O: the file is opened with {@code O_DIRECT}, so data bypasses the page cache. A filesystem
 * that refuses it (tmpfs, some FUSE) or a device whose sector is larger than the namespace's block makes
 * the device fall back to buffered I/O, with the reason logged and kept in {@link #directIoRefusal()}.
 * {@code O_DIRECT} needs aligned memory: a buffer whose memory is direct, in one piece and
 * {@value #ALIGNMENT}-aligned is handed to the kernel as it is; any other (heap, composite, misaligned, as
 * most of Netty's pooled buffers are) is copied through the slot's bounce buffer, an aligned segment the slot
 * keeps and grows to the largest I/O it has seen. In buffered mode only heap and composite buffers bounce.
 *
 * <p>Operations: READ/WRITE map to {@code IORING_OP_READ/WRITE} (short transfers are resubmitted for the
 * rest); FUA is {@code RWF_DSYNC} on the write; flush is {@code IORING_OP_FSYNC} with
 * {@code IORING_FSYNC_DATASYNC}; deallocate is {@code IORING_OP_FALLOCATE(PUNCH_HOLE | KEEP_SIZE)} and write
 * zeroes {@code FALLOCATE(ZERO_RANGE | KEEP_SIZE)}, each falling back to writing zeroes from a shared zero
 * segment when the filesystem answers {@code EOPNOTSUPP}. Errors complete with {@link IoCompletion#EIO}
 * ({@link IoCompletion#ENOSPC} for a full filesystem, {@link IoCompletion#ERANGE} for a range outside the
 * device, checked before submission); nothing is thrown to the caller.
 *
 * <p>Backpressure: at most {@code queueDepth} operations are in the kernel; the rest wait in the hand-off
 * ring. A submitter finding the hand-off ring full waits for room (the reactor is draining it), except the
 * reactor thread itself (a completion handler submitting more), whose overflow goes to a local queue.
 *
 * <p>Durability: {@link #volatileWriteCache()} is true: buffered I/O sits in the page cache, and even
 * {@code O_DIRECT} data may sit in the drive's cache until a flush.
 */
public final class IoUringBlockDevice implements BlockDevice {

    private static final System.Logger LOG = System.getLogger("vvolgate.device");

    /** Operations in the kernel at once, unless {@link #open(Path, long, int, int)} says otherwise. */
    public static final int DEFAULT_QUEUE_DEPTH = 256;
    /** Memory alignment for O_DIRECT; 4096 satisfies every logical sector size in use. */
    static final int ALIGNMENT = 4096;
    /** Size of one write of the zero-fill fallback. */
    static final int ZERO_CHUNK = 1 << 20;
    private static final int HANDOFF_SIZE = 4096;
    /** user_data of the eventfd READ; slot indices are non-negative. */
    private static final long WAKE_TAG = -1L;

    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;

    private static final int READ = 1;
    private static final int WRITE = 2;
    private static final int FLUSH = 3;
    private static final int DEALLOCATE = 4;
    private static final int WRITE_ZEROES = 5;

    /** A slot's state: the operation itself, the zero-fill fallback, the trailing fdatasync of a FUA zeroing. */
    private static final int PHASE_MAIN = 0;
    private static final int PHASE_ZERO_FILL = 1;
    private static final int PHASE_SYNC = 2;

    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    /** A hand-off ring entry, pre-allocated; filled by the submitter, emptied by the reactor. */
    static final class Request {
        int kind;
        long offset;
        long length;
        ByteBuf buf;
        int bufIndex;
        boolean fua;
        Object attachment;
        IoCompletion<Object> completion;

        void clear() {
            buf = null;
            attachment = null;
            completion = null;
        }
    }

    /** An operation in the kernel. Reactor-owned. */
    static final class Slot {
        final int index;
        int kind;
        int phase;
        long offset;
        long length;
        long done;
        ByteBuf buf;
        int bufIndex;
        boolean fua;
        boolean bounced;
        long address;
        Object attachment;
        IoCompletion<Object> completion;
        MemorySegment bounce;
        ByteBuffer bounceView;

        Slot(int index) {
            this.index = index;
        }
    }

    private final Path path;
    private final long size;
    private final int blockSize;
    private final int fd;
    private final boolean direct;
    private final String directIoRefusal;
    private final Arena arena;

    // The ring: mapped memory and the offsets the kernel gave; written only by the reactor thread.
    private final int ringFd;
    private final MemorySegment sqRing;
    private final MemorySegment cqRing;
    private final MemorySegment sqes;
    private final long sqRingSize;
    private final long cqRingSize;
    private final boolean singleMmap;
    private final long sqHeadOff;
    private final long sqTailOff;
    private final int sqMask;
    private final long cqHeadOff;
    private final long cqTailOff;
    private final int cqMask;
    private final long cqesOff;
    private final int sqEntries;

    private final int eventFd;
    private final MemorySegment eventBuf;
    private final MemorySegment reactorErrno;
    private final MemorySegment zeroes;

    private final RingBuffer<Request> handoff;
    private final EventPoller<Request> poller;
    private final EventPoller.Handler<Request> takeRequest = this::takeRequest;
    private final ArrayDeque<Request> overflow = new ArrayDeque<>();
    private final Slot[] slots;
    private final int[] free;
    private int freeTop;
    private int sqTail;
    private int unsubmitted;
    private boolean wakeArmed;

    private final AtomicBoolean sleeping = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean closing;
    private final Thread reactor;
    private final ThreadLocal<MemorySegment> callerErrno;

    // Counters: written by the reactor, read racily by anyone (monitoring, tests).
    private volatile long enterCalls;
    private volatile long completedOps;

    private IoUringBlockDevice(Path path, long size, int blockSize, int fd, String directIoRefusal, int queueDepth,
                               Arena arena) throws IOException {
        this.path = path;
        this.size = size;
        this.blockSize = blockSize;
        this.fd = fd;
        this.direct = directIoRefusal == null;
        this.directIoRefusal = directIoRefusal;
        this.arena = arena;
        this.reactorErrno = NativeSymbols.allocateErrnoState(arena);
        this.callerErrno = ThreadLocal.withInitial(() -> NativeSymbols.allocateErrnoState(Arena.ofAuto()));
        this.zeroes = arena.allocate(ZERO_CHUNK, ALIGNMENT);
        this.eventBuf = arena.allocate(8, 8);

        MemorySegment errno = reactorErrno;
        MemorySegment params = io_uring_params.allocate(arena);
        // The smallest power of two above queueDepth: room for every slot's SQE plus the eventfd read.
        int entries = Integer.highestOneBit(queueDepth) << 1;
        io_uring_params.flags(params, io_uring_h.IORING_SETUP_CQSIZE | io_uring_h.IORING_SETUP_CLAMP);
        io_uring_params.cq_entries(params, entries * 2);
        int ring = io_uring_h.io_uring_setup(errno, entries, params);
        if (ring < 0) {
            throw new IOException("io_uring_setup(" + entries + ") failed: "
                    + string_h.strerror(NativeSymbols.errno(errno)));
        }
        this.ringFd = ring;
        MemorySegment sqOff = io_uring_params.sq_off(params);
        MemorySegment cqOff = io_uring_params.cq_off(params);
        this.sqEntries = io_uring_params.sq_entries(params);
        int cqEntries = io_uring_params.cq_entries(params);
        this.singleMmap = (io_uring_params.features(params) & io_uring_h.IORING_FEAT_SINGLE_MMAP) != 0;
        long sqSize = io_sqring_offsets.array(sqOff) + (long) sqEntries * Integer.BYTES;
        long cqSize = io_cqring_offsets.cqes(cqOff) + (long) cqEntries * io_uring_cqe.sizeof();
        if (singleMmap) {
            sqSize = Math.max(sqSize, cqSize);
            cqSize = sqSize;
        }
        this.sqRingSize = sqSize;
        this.cqRingSize = cqSize;
        this.sqRing = map(ring, sqSize, io_uring_h.IORING_OFF_SQ_RING, errno);
        this.cqRing = singleMmap ? sqRing : map(ring, cqSize, io_uring_h.IORING_OFF_CQ_RING, errno);
        this.sqes = map(ring, (long) sqEntries * io_uring_sqe.sizeof(), io_uring_h.IORING_OFF_SQES, errno);
        this.sqHeadOff = io_sqring_offsets.head(sqOff);
        this.sqTailOff = io_sqring_offsets.tail(sqOff);
        this.sqMask = sqRing.get(ValueLayout.JAVA_INT, io_sqring_offsets.ring_mask(sqOff));
        this.cqHeadOff = io_cqring_offsets.head(cqOff);
        this.cqTailOff = io_cqring_offsets.tail(cqOff);
        this.cqMask = cqRing.get(ValueLayout.JAVA_INT, io_cqring_offsets.ring_mask(cqOff));
        this.cqesOff = io_cqring_offsets.cqes(cqOff);
        // The SQ index array maps ring position i to SQE i, once and for all: SQEs are used in ring order.
        long array = io_sqring_offsets.array(sqOff);
        for (int i = 0; i < sqEntries; i++) {
            sqRing.set(ValueLayout.JAVA_INT, array + (long) i * Integer.BYTES, i);
        }
        this.sqTail = sqRing.get(ValueLayout.JAVA_INT, sqTailOff);

        int efd = sys_eventfd_h.eventfd(errno, 0, sys_eventfd_h.EFD_CLOEXEC | sys_eventfd_h.EFD_NONBLOCK);
        if (efd < 0) {
            throw new IOException("eventfd failed: " + string_h.strerror(NativeSymbols.errno(errno)));
        }
        this.eventFd = efd;

        // One SQ entry stays for the eventfd read; each slot has at most one SQE in the ring at a time.
        int depth = Math.min(queueDepth, sqEntries - 1);
        this.slots = new Slot[depth];
        this.free = new int[depth];
        for (int i = 0; i < depth; i++) {
            slots[i] = new Slot(i);
            free[i] = depth - 1 - i;
        }
        this.freeTop = depth;
        // The wait strategy is never used: the reactor polls the ring and sleeps in io_uring_enter instead.
        this.handoff = RingBuffer.create(ProducerType.MULTI, Request::new, HANDOFF_SIZE,
                new com.lmax.disruptor.BusySpinWaitStrategy());
        this.poller = handoff.newPoller();
        handoff.addGatingSequences(poller.getSequence());
        this.reactor = new Thread(this::run, "uring-" + path.getFileName());
        reactor.setDaemon(true);
    }

    private static MemorySegment map(int ring, long length, long offset, MemorySegment errno) throws IOException {
        MemorySegment m = sys_mman_h.mmap(errno, MemorySegment.NULL, length,
                sys_mman_h.PROT_READ | sys_mman_h.PROT_WRITE, sys_mman_h.MAP_SHARED | sys_mman_h.MAP_POPULATE,
                ring, offset);
        if (m.address() == sys_mman_h.MAP_FAILED) {
            throw new IOException("mmap of the io_uring ring failed: " + string_h.strerror(NativeSymbols.errno(errno)));
        }
        return m.reinterpret(length);
    }

    /** {@link #open(Path, long, int, int)} with {@link #DEFAULT_QUEUE_DEPTH}. */
    public static IoUringBlockDevice open(Path path, long size, int blockSize) throws IOException {
        return open(path, size, blockSize, DEFAULT_QUEUE_DEPTH);
    }

    /**
     * Opens the image or block device at {@code path} as {@link FileBlockDevice#open} does (a missing image is
     * created sparse; an existing one must be exactly {@code size} bytes; a block device must hold at least
     * {@code size}), with {@code O_DIRECT} where the filesystem allows it, and starts the device's reactor.
     *
     * @param queueDepth operations in the kernel at once (1..4096)
     * @throws IOException with a message naming the file and the problem, meant for an operator
     */
    public static IoUringBlockDevice open(Path path, long size, int blockSize, int queueDepth) throws IOException {
        DeviceRange.requireGeometry(size, blockSize);
        if (queueDepth < 1 || queueDepth > 4096) {
            throw new IllegalArgumentException("queue depth must be 1..4096, not " + queueDepth);
        }
        boolean blockDevice = isBlockDevice(path);
        if (!blockDevice) {
            prepareImage(path, size);
        }
        Arena arena = Arena.ofShared();
        int fd = -1;
        try {
            MemorySegment errno = NativeSymbols.allocateErrnoState(arena);
            MemorySegment cpath = arena.allocateFrom(path.toString());
            int flags = fcntl_h.O_RDWR | fcntl_h.O_CLOEXEC;
            String refusal = null;
            fd = fcntl_h.open(errno, cpath, flags | fcntl_h.O_DIRECT, 0);
            if (fd < 0) {
                int e = NativeSymbols.errno(errno);
                if (e != errno_h.EINVAL) {
                    throw new IOException("cannot open " + path + ": " + string_h.strerror(e));
                }
                refusal = "the filesystem refuses O_DIRECT (" + string_h.strerror(e) + ")";
                fd = fcntl_h.open(errno, cpath, flags, 0);
                if (fd < 0) {
                    throw new IOException("cannot open " + path + ": " + string_h.strerror(NativeSymbols.errno(errno)));
                }
            } else {
                // Probe: O_DIRECT may open yet refuse I/O in units of our block (a 4 KiB-sector device, 512 LBAs).
                MemorySegment probe = arena.allocate(blockSize, ALIGNMENT);
                if (unistd_h.pread(errno, fd, probe, blockSize, 0) < 0 && NativeSymbols.errno(errno) == errno_h.EINVAL) {
                    refusal = "O_DIRECT refuses " + blockSize + "-byte I/O (the sector is larger)";
                    unistd_h.close(errno, fd);
                    fd = fcntl_h.open(errno, cpath, flags, 0);
                    if (fd < 0) {
                        throw new IOException("cannot open " + path + ": " + string_h.strerror(NativeSymbols.errno(errno)));
                    }
                }
            }
            if (blockDevice) {
                MemorySegment bytes = arena.allocate(ValueLayout.JAVA_LONG);
                if (sys_ioctl_h.ioctl(errno, fd, sys_ioctl_h.BLKGETSIZE64, bytes) < 0) {
                    throw new IOException("cannot tell the capacity of block device " + path + ": "
                            + string_h.strerror(NativeSymbols.errno(errno)));
                }
                long capacity = bytes.get(ValueLayout.JAVA_LONG, 0);
                if (capacity < size) {
                    throw new IOException("block device " + path + " holds " + capacity + " bytes, less than the "
                            + size + " bytes of the namespace");
                }
            }
            if (refusal != null) {
                LOG.log(System.Logger.Level.WARNING, path + ": buffered I/O instead of direct I/O: " + refusal);
            }
            IoUringBlockDevice device = new IoUringBlockDevice(path, size, blockSize, fd, refusal, queueDepth, arena);
            device.reactor.start();
            return device;
        } catch (IOException | RuntimeException e) {
            if (fd >= 0) {
                unistd_h.close(NativeSymbols.allocateErrnoState(Arena.ofAuto()), fd);
            }
            // A ring set up before the failure is released with the process; the failure paths after
            // io_uring_setup are mmap/eventfd failures that only happen when the process is out of resources.
            arena.close();
            throw e;
        }
    }

    private static void prepareImage(Path path, long size) throws IOException {
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(path)) {
            throw new IOException(path + " is neither a regular file nor a block device");
        }
        boolean created = false;
        try {
            Files.createFile(path);
            created = true;
        } catch (FileAlreadyExistsException e) {
            // Checked below.
        } catch (NoSuchFileException e) {
            throw new IOException("cannot create " + path + ": directory " + path.getParent() + " does not exist");
        }
        try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
            long actual = file.length();
            if (actual == 0) {
                file.setLength(size);
                file.getChannel().force(true);
            } else if (actual != size) {
                throw new IOException(path + " holds " + actual + " bytes but the namespace is " + size
                        + " bytes; resizing an image is not supported yet (restore the size or use a new file)");
            }
        }
        Path dir = path.toAbsolutePath().getParent();
        if (created && dir != null) {
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        }
    }

    private static boolean isBlockDevice(Path path) throws IOException {
        if (!Files.exists(path)) {
            return false;
        }
        Object mode = Files.getAttribute(path, "unix:mode");
        return mode instanceof Integer m && (m & S_IFMT) == S_IFBLK;
    }

    public Path path() {
        return path;
    }

    /** True if the file was opened with {@code O_DIRECT}. */
    public boolean directIo() {
        return direct;
    }

    /** Why direct I/O was refused, or null if it is in use. */
    public String directIoRefusal() {
        return directIoRefusal;
    }

    /** {@code io_uring_enter} calls so far (each submits a batch and/or waits). Racy read. */
    public long enterCalls() {
        return enterCalls;
    }

    /** Operations completed by the reactor so far. Racy read. */
    public long completedOperations() {
        return completedOps;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean volatileWriteCache() {
        return true;
    }

    @Override
    public DeviceHealth health() {
        return DeviceHealth.UNKNOWN;
    }

    // ---- submission (any thread) ----

    @Override
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno == IoCompletion.OK) {
            try {
                dst.ensureWritable(length);
            } catch (RuntimeException e) {
                // A buffer too small or released: a bug above us, reported rather than thrown.
                errno = IoCompletion.EIO;
            }
        }
        if (errno != IoCompletion.OK || length == 0) {
            completion.completed(attachment, errno);
            return;
        }
        submit(READ, offset, length, dst, dst.writerIndex(), false, attachment, completion);
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                          IoCompletion<A> completion) {
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno == IoCompletion.OK && src.readableBytes() < length) {
            errno = IoCompletion.EIO;
        }
        if (errno != IoCompletion.OK || length == 0) {
            completion.completed(attachment, errno);
            return;
        }
        submit(WRITE, offset, length, src, src.readerIndex(), fua, attachment, completion);
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno != IoCompletion.OK || length == 0) {
            completion.completed(attachment, errno);
            return;
        }
        submit(WRITE_ZEROES, offset, length, null, 0, fua, attachment, completion);
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno != IoCompletion.OK || length == 0) {
            completion.completed(attachment, errno);
            return;
        }
        submit(DEALLOCATE, offset, length, null, 0, false, attachment, completion);
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        submit(FLUSH, 0, 0, null, 0, false, attachment, completion);
    }

    @SuppressWarnings("unchecked")
    private <A> void submit(int kind, long offset, long length, ByteBuf buf, int bufIndex, boolean fua,
                            A attachment, IoCompletion<A> completion) {
        if (closing) {
            completion.completed(attachment, IoCompletion.EIO);
            return;
        }
        boolean onReactor = Thread.currentThread() == reactor;
        long sequence;
        if (onReactor) {
            try {
                sequence = handoff.tryNext();
            } catch (InsufficientCapacityException e) {
                // The reactor cannot wait for itself; rare enough that allocating here is acceptable.
                Request r = new Request();
                fill(r, kind, offset, length, buf, bufIndex, fua, attachment, (IoCompletion<Object>) completion);
                overflow.add(r);
                return;
            }
        } else {
            sequence = handoff.next();
        }
        try {
            fill(handoff.get(sequence), kind, offset, length, buf, bufIndex, fua, attachment,
                    (IoCompletion<Object>) completion);
        } finally {
            handoff.publish(sequence);
        }
        if (!onReactor && sleeping.get() && sleeping.compareAndSet(true, false)) {
            sys_eventfd_h.eventfd_write(callerErrno.get(), eventFd, 1);
        }
    }

    private static void fill(Request r, int kind, long offset, long length, ByteBuf buf, int bufIndex, boolean fua,
                             Object attachment, IoCompletion<Object> completion) {
        r.kind = kind;
        r.offset = offset;
        r.length = length;
        r.buf = buf;
        r.bufIndex = bufIndex;
        r.fua = fua;
        r.attachment = attachment;
        r.completion = completion;
    }

    // ---- the reactor (its thread only) ----

    private void run() {
        while (true) {
            if (doWork() > 0) {
                continue;
            }
            if (closing && freeTop == slots.length && overflow.isEmpty() && !pendingRequests() && !wakeArmed) {
                break;
            }
            sleeping.set(true);
            VarHandle.fullFence();
            if (pendingRequests() && freeTop > 0 || !overflow.isEmpty() && freeTop > 0) {
                sleeping.set(false);
                continue;
            }
            enter(unsubmitted, 1, io_uring_h.IORING_ENTER_GETEVENTS);
            sleeping.set(false);
        }
    }

    private boolean pendingRequests() {
        return handoff.getCursor() > poller.getSequence().get();
    }

    /**
     * One round: reap completions, take new requests into free slots, submit every SQE written with one
     * {@code io_uring_enter}. Returns the number of completions reaped plus requests taken. Reactor thread only.
     */
    int doWork() {
        int work = reap();
        while (freeTop > 0 && !overflow.isEmpty()) {
            Request r = overflow.poll();
            start(r);
            work++;
        }
        if (freeTop > 0) {
            int before = freeTop;
            try {
                poller.poll(takeRequest);
            } catch (Exception e) {
                throw new IllegalStateException("hand-off ring", e); // takeRequest throws nothing
            }
            work += before - freeTop;
        }
        if (!wakeArmed && !closing) {
            long at = nextSqe();
            sqes.set(ValueLayout.JAVA_BYTE, at + io_uring_sqe.opcode$OFFSET, io_uring_h.IORING_OP_READ);
            sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.fd$OFFSET, eventFd);
            sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.addr$OFFSET, eventBuf.address());
            sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.len$OFFSET, 8);
            sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.user_data$OFFSET, WAKE_TAG);
            wakeArmed = true;
        }
        if (unsubmitted > 0) {
            enter(unsubmitted, 0, 0);
        }
        return work;
    }

    private void enter(int toSubmit, int minComplete, int flags) {
        INT.setRelease(sqRing, sqTailOff, sqTail);
        int n = io_uring_h.io_uring_enter(reactorErrno, ringFd, toSubmit, minComplete, flags, MemorySegment.NULL, 0);
        enterCalls++;
        if (n >= 0) {
            unsubmitted -= Math.min(n, toSubmit);
            return;
        }
        int e = NativeSymbols.errno(reactorErrno);
        if (e != errno_h.EINTR && e != errno_h.EAGAIN && e != errno_h.EBUSY) {
            // EAGAIN/EBUSY: the kernel wants completions reaped first, which the next round does.
            LOG.log(System.Logger.Level.ERROR, path + ": io_uring_enter failed: " + string_h.strerror(e));
        }
    }

    private boolean takeRequest(Request r, long sequence, boolean endOfBatch) {
        start(r);
        r.clear();
        return freeTop > 0;
    }

    private void start(Request r) {
        Slot s = slots[free[--freeTop]];
        s.kind = r.kind;
        s.phase = PHASE_MAIN;
        s.offset = r.offset;
        s.length = r.length;
        s.done = 0;
        s.buf = r.buf;
        s.bufIndex = r.bufIndex;
        s.fua = r.fua;
        s.attachment = r.attachment;
        s.completion = r.completion;
        s.bounced = false;
        switch (s.kind) {
            case READ, WRITE -> {
                try {
                    prepareBuffer(s);
                } catch (RuntimeException e) {
                    // A released or resized buffer: a bug above us, reported rather than thrown.
                    finish(s, IoCompletion.EIO);
                    return;
                }
                queueTransfer(s);
            }
            case FLUSH -> queueFsync(s);
            case DEALLOCATE -> queueFallocate(s, fcntl_h.FALLOC_FL_PUNCH_HOLE | fcntl_h.FALLOC_FL_KEEP_SIZE);
            case WRITE_ZEROES -> queueFallocate(s, fcntl_h.FALLOC_FL_ZERO_RANGE | fcntl_h.FALLOC_FL_KEEP_SIZE);
            default -> finish(s, IoCompletion.EIO);
        }
    }

    /** Chooses the memory the kernel reads or writes: the caller's, or the slot's bounce buffer. */
    private void prepareBuffer(Slot s) {
        ByteBuf buf = s.buf;
        int length = (int) s.length;
        long address = 0;
        if (buf.isDirect() && buf.nioBufferCount() == 1) {
            if (buf.hasMemoryAddress()) {
                address = buf.memoryAddress() + s.bufIndex;
            } else {
                // Without Unsafe Netty cannot tell the address; the view costs one small allocation.
                address = MemorySegment.ofBuffer(buf.nioBuffer(s.bufIndex, length)).address();
            }
            if (direct && (address & (ALIGNMENT - 1)) != 0) {
                address = 0;
            }
        }
        if (address != 0) {
            s.address = address;
            return;
        }
        if (s.bounce == null || s.bounce.byteSize() < length) {
            long capacity = (length + ALIGNMENT - 1L) & -ALIGNMENT;
            s.bounce = Arena.ofAuto().allocate(capacity, ALIGNMENT);
            s.bounceView = s.bounce.asByteBuffer();
        }
        s.bounced = true;
        s.address = s.bounce.address();
        if (s.kind == WRITE) {
            buf.getBytes(s.bufIndex, s.bounceView.clear().limit(length));
        }
    }

    private void queueTransfer(Slot s) {
        long at = nextSqe();
        byte op = s.kind == READ ? io_uring_h.IORING_OP_READ : io_uring_h.IORING_OP_WRITE;
        sqes.set(ValueLayout.JAVA_BYTE, at + io_uring_sqe.opcode$OFFSET, op);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.fd$OFFSET, fd);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.off$OFFSET, s.offset + s.done);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.addr$OFFSET, s.address + s.done);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.len$OFFSET, (int) (s.length - s.done));
        if (s.kind == WRITE && s.fua) {
            sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.rw_flags$OFFSET, fcntl_h.RWF_DSYNC);
        }
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.user_data$OFFSET, s.index);
    }

    private void queueZeroWrite(Slot s) {
        long at = nextSqe();
        sqes.set(ValueLayout.JAVA_BYTE, at + io_uring_sqe.opcode$OFFSET, io_uring_h.IORING_OP_WRITE);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.fd$OFFSET, fd);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.off$OFFSET, s.offset + s.done);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.addr$OFFSET, zeroes.address());
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.len$OFFSET, (int) Math.min(ZERO_CHUNK, s.length - s.done));
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.user_data$OFFSET, s.index);
    }

    private void queueFsync(Slot s) {
        long at = nextSqe();
        sqes.set(ValueLayout.JAVA_BYTE, at + io_uring_sqe.opcode$OFFSET, io_uring_h.IORING_OP_FSYNC);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.fd$OFFSET, fd);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.fsync_flags$OFFSET, io_uring_h.IORING_FSYNC_DATASYNC);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.user_data$OFFSET, s.index);
    }

    /** As liburing's io_uring_prep_fallocate: off = offset, addr = length, len = mode. */
    private void queueFallocate(Slot s, int mode) {
        long at = nextSqe();
        sqes.set(ValueLayout.JAVA_BYTE, at + io_uring_sqe.opcode$OFFSET, io_uring_h.IORING_OP_FALLOCATE);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.fd$OFFSET, fd);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.off$OFFSET, s.offset);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.addr$OFFSET, s.length);
        sqes.set(ValueLayout.JAVA_INT, at + io_uring_sqe.len$OFFSET, mode);
        sqes.set(ValueLayout.JAVA_LONG, at + io_uring_sqe.user_data$OFFSET, s.index);
    }

    /** The byte offset of the next free SQE, zeroed. There is always one: slots + 1 <= SQ entries. */
    private long nextSqe() {
        long at = (long) (sqTail & sqMask) * io_uring_sqe.sizeof();
        for (long i = 0; i < io_uring_sqe.sizeof(); i += Long.BYTES) {
            sqes.set(ValueLayout.JAVA_LONG, at + i, 0L);
        }
        sqTail++;
        unsubmitted++;
        return at;
    }

    private int reap() {
        int head = cqRing.get(ValueLayout.JAVA_INT, cqHeadOff);
        int tail = (int) INT.getAcquire(cqRing, cqTailOff);
        int reaped = 0;
        while (head != tail) {
            long at = cqesOff + (long) (head & cqMask) * io_uring_cqe.sizeof();
            long userData = cqRing.get(ValueLayout.JAVA_LONG, at + io_uring_cqe.user_data$OFFSET);
            int res = cqRing.get(ValueLayout.JAVA_INT, at + io_uring_cqe.res$OFFSET);
            head++;
            INT.setRelease(cqRing, cqHeadOff, head);
            reaped++;
            if (userData == WAKE_TAG) {
                wakeArmed = false;
            } else {
                completed(slots[(int) userData], res);
            }
            if (head == tail) {
                tail = (int) INT.getAcquire(cqRing, cqTailOff);
            }
        }
        return reaped;
    }

    private void completed(Slot s, int res) {
        switch (s.phase) {
            case PHASE_MAIN -> {
                switch (s.kind) {
                    case READ, WRITE -> transferred(s, res);
                    case FLUSH -> finish(s, res < 0 ? errnoOf(res) : IoCompletion.OK);
                    default -> zeroed(s, res);
                }
            }
            case PHASE_ZERO_FILL -> {
                if (res <= 0) {
                    finish(s, res < 0 ? errnoOf(res) : IoCompletion.EIO);
                    return;
                }
                s.done += res;
                if (s.done < s.length) {
                    queueZeroWrite(s);
                } else {
                    syncOrFinish(s);
                }
            }
            default -> finish(s, res < 0 ? errnoOf(res) : IoCompletion.OK);
        }
    }

    private void transferred(Slot s, int res) {
        if (res <= 0) {
            // 0: end of file inside the device, i.e. the image was truncated behind our back.
            finish(s, res < 0 ? errnoOf(res) : IoCompletion.EIO);
            return;
        }
        s.done += res;
        if (s.done < s.length) {
            queueTransfer(s);
            return;
        }
        if (s.kind == READ) {
            try {
                int length = (int) s.length;
                if (s.bounced) {
                    s.buf.setBytes(s.bufIndex, s.bounceView.clear().limit(length));
                }
                s.buf.writerIndex(s.bufIndex + length);
            } catch (RuntimeException e) {
                finish(s, IoCompletion.EIO);
                return;
            }
        }
        finish(s, IoCompletion.OK);
    }

    private void zeroed(Slot s, int res) {
        if (res == -errno_h.EOPNOTSUPP) {
            s.phase = PHASE_ZERO_FILL;
            s.done = 0;
            queueZeroWrite(s);
        } else if (res < 0) {
            finish(s, errnoOf(res));
        } else {
            syncOrFinish(s);
        }
    }

    private void syncOrFinish(Slot s) {
        if (s.fua) {
            s.phase = PHASE_SYNC;
            queueFsync(s);
        } else {
            finish(s, IoCompletion.OK);
        }
    }

    private static int errnoOf(int res) {
        return -res == errno_h.ENOSPC ? IoCompletion.ENOSPC : IoCompletion.EIO;
    }

    private void finish(Slot s, int errno) {
        Object attachment = s.attachment;
        IoCompletion<Object> completion = s.completion;
        s.attachment = null;
        s.completion = null;
        s.buf = null;
        free[freeTop++] = s.index;
        completedOps++;
        try {
            completion.completed(attachment, errno);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, path + ": an I/O completion handler threw", e);
        }
    }

    // ---- close ----

    /**
     * Completes everything submitted before the call, then syncs and releases the device: reactor thread,
     * ring, file. Submissions that arrive after it has begun complete with {@link IoCompletion#EIO}. Must not
     * be called from a completion handler (the reactor would wait for itself).
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        closing = true;
        VarHandle.fullFence();
        MemorySegment errno = callerErrno.get();
        sys_eventfd_h.eventfd_write(errno, eventFd, 1);
        try {
            reactor.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.log(System.Logger.Level.WARNING, path + ": interrupted while closing; the ring is leaked");
            return;
        }
        if (unistd_h.fsync(errno, fd) < 0) {
            // The host was told about durability at its last Flush; a failure here changes nothing it relied on.
            LOG.log(System.Logger.Level.WARNING, path + ": fsync at close failed: "
                    + string_h.strerror(NativeSymbols.errno(errno)));
        }
        sys_mman_h.munmap(errno, sqes, sqes.byteSize());
        sys_mman_h.munmap(errno, sqRing, sqRingSize);
        if (!singleMmap) {
            sys_mman_h.munmap(errno, cqRing, cqRingSize);
        }
        unistd_h.close(errno, ringFd);
        unistd_h.close(errno, eventFd);
        unistd_h.close(errno, fd);
        arena.close();
    }
}
