package io.vvolgate.gateway.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.DeviceHealth;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * A test device with a volatile write cache that can lose power at any instant, for the power-cut tests of
 * the storage engine. It owns two {@link MemoryBlockDevice}s: the <em>durable</em> medium (what survives
 * a cut for certain) and the <em>current</em> view (what reads return: durable plus everything cached).
 * Beside them it keeps, per 4 KiB unit ({@link #UNIT}), the history of cached versions not yet durable.
 *
 * <pre>
 *   write (no FUA) ──► current ──► history[unit] += version          (volatile)
 *   write (FUA)    ──► current ──► durable (+ history[unit] if any)   (durable at completion)
 *   flush          ──► durable := current for every unit with a history; histories cleared
 *   cut(rnd)       ──► image := durable, then per unit with a history: replay a prefix of it
 * </pre>
 *
 * <h2>What a cut keeps</h2>
 * Everything durable: every unit as of the last completed {@link #flush} and every completed FUA write.
 * For each unit with unflushed versions v1..vn, independently of every other unit, the image holds the
 * unit as it was after vk for a random k in 0..n: lost (k = 0, the durable content), the latest (k = n),
 * or an older cached version (0 &lt; k &lt; n), with every FUA version of that unit applied on top in
 * order. This matches a drive's volatile cache: it destages dirty pages in whatever order it likes and
 * may have written an earlier version of a page to flash before the host overwrote it in cache, so after
 * a cut any version the unit ever held since the last flush can be on the medium; but a page is never a
 * mix of versions and never something nobody wrote. Units are 4 KiB because that is the atomic write
 * unit of the drives we target (AWUPF covers 4 KiB); a write spanning several units is torn between
 * them. Within a unit of a 512-byte-LBA device the versions are replayed as a prefix, never a subset.
 *
 * <h2>Cut points</h2>
 * Every write, writeZeroes, deallocate and flush submitted while the power is on is counted
 * ({@link #operations()}); reads are not, as they change nothing. {@link #cutAfterOperations} lets
 * operation n complete normally and then turns the power off; {@link #cutDuringOperation} lets operation n
 * reach the cache without ever being acknowledged (it completes with EIO, even a FUA write), which is a
 * write in flight at the cut. Once the power is off every operation, reads included, completes with
 * {@link IoCompletion#EIO}: the machine is off. {@link #cut} turns the power off (if not already) and
 * returns the image as a fresh device; it may be called again for other random images of the same instant.
 *
 * <p>Devices may share a {@link PowerDomain} (the two disks of a mirrored container): one power switch,
 * one operation count across them, one lock.
 *
 * <p>Threads: any thread; every operation runs under the domain's lock (a test device, so a lock is fine)
 * and completes on the calling thread after the lock is released.
 */
public final class PowerCutDevice implements BlockDevice {

    /** The granule of tearing: each unit of an unflushed write survives or not independently. */
    public static final int UNIT = 4096;

    private static final int CHUNK = MemoryBlockDevice.CHUNK_SIZE;
    private static final IoCompletion<int[]> STORE = (box, errno) -> box[0] = errno;

    private final PowerDomain power;
    private final long size;
    private final int blockSize;
    private final MemoryBlockDevice durable;
    private final MemoryBlockDevice current;
    /** Chunks of {@link #durable} ever given data; the rest read as zeroes, so a cut copies only these. */
    private final BitSet durableChunks;
    /** Unit index → unflushed versions, oldest first. Ordered so that a seeded cut is reproducible. */
    private final TreeMap<Long, List<Version>> unflushed = new TreeMap<>();
    private boolean closed;

    /** A new, zeroed device with its own power switch. */
    public PowerCutDevice(long size, int blockSize) {
        this(size, blockSize, new PowerDomain());
    }

    /** A new, zeroed device on a shared power switch. */
    public PowerCutDevice(long size, int blockSize, PowerDomain power) {
        this(new MemoryBlockDevice(size, blockSize), new BitSet(), power);
    }

    private PowerCutDevice(MemoryBlockDevice durable, BitSet durableChunks, PowerDomain power) {
        this.power = power;
        this.size = durable.size();
        this.blockSize = durable.blockSize();
        this.durable = durable;
        this.durableChunks = durableChunks;
        this.current = new MemoryBlockDevice(size, blockSize);
        copyChunks(durable, durableChunks, current);
    }

    /** One cached version of (part of) a unit; {@code data == null} means zeroes. */
    private record Version(int within, int length, byte[] data, boolean fua) {
        void applyTo(byte[] unit) {
            if (data == null) {
                Arrays.fill(unit, within, within + length, (byte) 0);
            } else {
                System.arraycopy(data, 0, unit, within, length);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Power

    /**
     * The power switch of one or more devices: the lock they share, their operation count and the
     * instant chosen to cut. Every method is safe from any thread.
     */
    public static final class PowerDomain {
        private long operations;
        private long cutAt = -1;
        private boolean cutInFlight;
        private boolean on = true;

        /** Operations (writes, writeZeroes, deallocates, flushes) submitted while the power was on. */
        public synchronized long operations() {
            return operations;
        }

        public synchronized boolean isOn() {
            return on;
        }

        /** Turns the power off now; every later operation on the domain's devices fails with EIO. */
        public synchronized void cutNow() {
            on = false;
        }

        /**
         * Lets the next {@code n} operations complete normally, then turns the power off. {@code n == 0}
         * turns it off at once.
         */
        public synchronized void cutAfterOperations(long n) {
            if (n < 0) {
                throw new IllegalArgumentException("n must not be negative: " + n);
            }
            if (n == 0) {
                on = false;
                return;
            }
            cutAt = operations + n;
            cutInFlight = false;
        }

        /**
         * Lets the next {@code n - 1} operations complete normally; the n-th reaches the volatile cache
         * (a flush destages nothing) but the power fails before it is acknowledged: it completes with EIO
         * and is not durable, even with FUA. Later operations fail with EIO.
         */
        public synchronized void cutDuringOperation(long n) {
            if (n < 1) {
                throw new IllegalArgumentException("n must be at least 1: " + n);
            }
            cutAt = operations + n;
            cutInFlight = true;
        }

        /** Counts one operation; returns how it runs. Called with this domain's lock held. */
        private Admission admit() {
            if (!on) {
                return Admission.REFUSED;
            }
            operations++;
            if (operations == cutAt) {
                on = false;
                cutAt = -1;
                return cutInFlight ? Admission.IN_FLIGHT : Admission.LAST;
            }
            return Admission.NORMAL;
        }
    }

    private enum Admission {
        /** Runs and is acknowledged. */
        NORMAL,
        /** Runs and is acknowledged; the power went off right after (already recorded). */
        LAST,
        /** Reaches the cache unacknowledged; completes with EIO. */
        IN_FLIGHT,
        /** The power is off. */
        REFUSED
    }

    /** This device's power switch (shared with other devices if it was given at construction). */
    public PowerDomain power() {
        return power;
    }

    /** See {@link PowerDomain#operations()}; counted across every device of the domain. */
    public long operations() {
        return power.operations();
    }

    /** See {@link PowerDomain#cutAfterOperations(long)}. */
    public void cutAfterOperations(long n) {
        power.cutAfterOperations(n);
    }

    /** See {@link PowerDomain#cutDuringOperation(long)}. */
    public void cutDuringOperation(long n) {
        power.cutDuringOperation(n);
    }

    public boolean isPoweredOn() {
        return power.isOn();
    }

    /** Units holding versions that a cut could still lose. */
    public int unflushedUnits() {
        synchronized (power) {
            return unflushed.size();
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Cut

    /**
     * Cuts the power (if not cut already) and returns what the medium holds: the durable data and, per
     * unit, a random version from its unflushed history, as described in the class comment. The image is
     * a new device, powered on, with an empty cache, its own power switch and an operation count of 0.
     */
    public PowerCutDevice cut(Random rnd) {
        return cut(rnd, new PowerDomain());
    }

    /** As {@link #cut(Random)}, with the image on the given power switch (to cut a set of devices again). */
    public PowerCutDevice cut(Random rnd, PowerDomain imagePower) {
        return image(imagePower, n -> switch (rnd.nextInt(3)) {
            case 0 -> 0;
            case 1 -> n;
            default -> rnd.nextInt(n + 1);
        });
    }

    /** Cuts the power; the image keeps every unflushed version (what a process kill leaves on the medium). */
    public PowerCutDevice cutKeepingAll() {
        return image(new PowerDomain(), n -> n);
    }

    /** Cuts the power; the image keeps only what was durable (the harshest cut). */
    public PowerCutDevice cutLosingAll() {
        return image(new PowerDomain(), n -> 0);
    }

    @FunctionalInterface
    private interface Survivors {
        /** How many of a unit's {@code n} unflushed versions reached the medium, in order. */
        int kept(int n);
    }

    private PowerCutDevice image(PowerDomain imagePower, Survivors survivors) {
        synchronized (power) {
            power.cutNow();
            MemoryBlockDevice image = new MemoryBlockDevice(size, blockSize);
            BitSet imageChunks = (BitSet) durableChunks.clone();
            copyChunks(durable, durableChunks, image);
            for (Map.Entry<Long, List<Version>> e : unflushed.entrySet()) {
                List<Version> versions = e.getValue();
                int kept = survivors.kept(versions.size());
                boolean anyFua = versions.stream().anyMatch(Version::fua);
                if (kept == 0 && !anyFua) {
                    continue;
                }
                long start = e.getKey() * UNIT;
                byte[] unit = load(durable, start, unitLength(e.getKey()));
                for (int i = 0; i < versions.size(); i++) {
                    // FUA versions are durable whatever else was lost; replaying them in order keeps
                    // later cached bytes over them only where those later versions survived.
                    if (i < kept || versions.get(i).fua()) {
                        versions.get(i).applyTo(unit);
                    }
                }
                store(image, start, unit);
                imageChunks.set((int) (start / CHUNK));
            }
            return new PowerCutDevice(image, imageChunks, imagePower);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // BlockDevice

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
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        int errno;
        synchronized (power) {
            if (!power.on || closed) {
                errno = IoCompletion.EIO;
            } else {
                int[] box = {-1};
                current.read(offset, length, dst, box, STORE);
                errno = box[0];
            }
        }
        completion.completed(attachment, errno);
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                          IoCompletion<A> completion) {
        int errno;
        synchronized (power) {
            errno = doWrite(offset, length, src, fua);
        }
        completion.completed(attachment, errno);
    }

    private int doWrite(long offset, int length, ByteBuf src, boolean fua) {
        Admission admission = admit();
        if (admission == Admission.REFUSED) {
            return IoCompletion.EIO;
        }
        int errno = checkRange(offset, length);
        if (errno == IoCompletion.OK && src.readableBytes() < length) {
            errno = IoCompletion.EIO;
        }
        if (errno != IoCompletion.OK) {
            return admission == Admission.IN_FLIGHT ? IoCompletion.EIO : errno;
        }
        byte[] data = new byte[length];
        src.getBytes(src.readerIndex(), data);
        return cache(offset, length, data, fua, admission);
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        int errno;
        synchronized (power) {
            errno = doZero(offset, length, fua);
        }
        completion.completed(attachment, errno);
    }

    /** Deallocation reads back as zeroes, and like a write it sits in the cache until a flush. */
    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        int errno;
        synchronized (power) {
            errno = doZero(offset, length, false);
        }
        completion.completed(attachment, errno);
    }

    private int doZero(long offset, long length, boolean fua) {
        Admission admission = admit();
        if (admission == Admission.REFUSED) {
            return IoCompletion.EIO;
        }
        int errno = checkRange(offset, length);
        if (errno != IoCompletion.OK) {
            return admission == Admission.IN_FLIGHT ? IoCompletion.EIO : errno;
        }
        return cache(offset, length, null, fua, admission);
    }

    /**
     * Puts data (or zeroes, {@code data == null}) into the current view and records it per unit. A FUA
     * write goes to the durable medium at once; where its unit still has cached versions it is also
     * appended to that history (marked FUA), so that a cut replays older versions under it, not over it.
     */
    private int cache(long offset, long length, byte[] data, boolean fua, Admission admission) {
        boolean acknowledged = admission != Admission.IN_FLIGHT;
        boolean durableNow = fua && acknowledged;
        if (length == 0) {
            return acknowledged ? IoCompletion.OK : IoCompletion.EIO;
        }
        put(current, offset, length, data);
        if (durableNow) {
            put(durable, offset, length, data);
            if (data != null) {
                durableChunks.set((int) (offset / CHUNK), (int) ((offset + length - 1) / CHUNK) + 1);
            }
        }
        long end = offset + length;
        long firstUnit = offset / UNIT;
        long lastUnit = (end - 1) / UNIT;
        if (data != null) {
            for (long u = firstUnit; u <= lastUnit; u++) {
                record(u, offset, end, data, durableNow);
            }
            return acknowledged ? IoCompletion.OK : IoCompletion.EIO;
        }
        // Zeroes may span a terabyte: visit only units that are not zero on the medium in every outcome,
        // i.e. those with cached versions and (unless FUA, which zeroed the medium already) those in
        // chunks the medium holds data in.
        List<Long> targets = new ArrayList<>(unflushed.subMap(firstUnit, true, lastUnit, true).keySet());
        if (!durableNow) {
            int firstChunk = (int) (offset / CHUNK);
            int lastChunk = (int) ((end - 1) / CHUNK);
            for (int c = durableChunks.nextSetBit(firstChunk); c >= 0 && c <= lastChunk; c = durableChunks.nextSetBit(c + 1)) {
                long from = Math.max(firstUnit, (long) c * (CHUNK / UNIT));
                long to = Math.min(lastUnit, (long) (c + 1) * (CHUNK / UNIT) - 1);
                for (long u = from; u <= to; u++) {
                    if (!unflushed.containsKey(u)) {
                        targets.add(u);
                    }
                }
            }
        }
        for (long u : targets) {
            record(u, offset, end, null, durableNow);
        }
        return acknowledged ? IoCompletion.OK : IoCompletion.EIO;
    }

    /** Records the part of a write in {@code [offset, end)} that falls in unit {@code u}. */
    private void record(long u, long offset, long end, byte[] data, boolean durableNow) {
        long start = u * UNIT;
        int unitLength = unitLength(u);
        long from = Math.max(offset, start);
        long to = Math.min(end, start + unitLength);
        List<Version> versions = unflushed.get(u);
        if (versions == null) {
            if (durableNow || (data == null && !durableChunks.get((int) (start / CHUNK)))) {
                return; // already durable, or zeroes over a medium that is zero there anyway
            }
            versions = new ArrayList<>(2);
            unflushed.put(u, versions);
        } else if (durableNow && from == start && to == start + unitLength) {
            unflushed.remove(u); // every older version is overwritten on the medium already
            return;
        }
        byte[] piece = data == null ? null : Arrays.copyOfRange(data, (int) (from - offset), (int) (to - offset));
        versions.add(new Version((int) (from - start), (int) (to - from), piece, durableNow));
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        int errno;
        synchronized (power) {
            errno = doFlush();
        }
        completion.completed(attachment, errno);
    }

    private int doFlush() {
        Admission admission = admit();
        if (admission == Admission.REFUSED || admission == Admission.IN_FLIGHT) {
            // A flush cut short may have destaged any part of the cache: a cut's random choice covers that.
            return IoCompletion.EIO;
        }
        destageAll();
        return IoCompletion.OK;
    }

    private void destageAll() {
        for (Long u : unflushed.keySet()) {
            long start = u * UNIT;
            store(durable, start, load(current, start, unitLength(u)));
            durableChunks.set((int) (start / CHUNK));
        }
        unflushed.clear();
    }

    @Override
    public DeviceHealth health() {
        return DeviceHealth.UNKNOWN;
    }

    /**
     * Syncs (if the power is on) and stops serving I/O. The durable medium is kept, so {@link #cut} after a
     * clean close returns everything that was written: that is how a test reopens a cleanly closed device.
     */
    @Override
    public void close() {
        synchronized (power) {
            if (power.on && !closed) {
                destageAll();
            }
            closed = true;
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Helpers, all called with the domain's lock held

    private Admission admit() {
        return closed ? Admission.REFUSED : power.admit();
    }

    private int unitLength(long unit) {
        return (int) Math.min(UNIT, size - unit * UNIT);
    }

    /** The same bounds and alignment rule as every backend (ERANGE), checked before anything is cached. */
    private int checkRange(long offset, long length) {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            return IoCompletion.ERANGE;
        }
        if (offset % blockSize != 0 || length % blockSize != 0) {
            return IoCompletion.ERANGE;
        }
        return IoCompletion.OK;
    }

    private static void put(MemoryBlockDevice store, long offset, long length, byte[] data) {
        if (data == null) {
            int[] box = {-1};
            store.writeZeroes(offset, length, false, box, STORE);
            requireOk(box[0]);
        } else {
            store(store, offset, data);
        }
    }

    private static void store(MemoryBlockDevice store, long offset, byte[] data) {
        ByteBuf src = Unpooled.wrappedBuffer(data);
        try {
            int[] box = {-1};
            store.write(offset, data.length, src, false, box, STORE);
            requireOk(box[0]);
        } finally {
            src.release();
        }
    }

    private static byte[] load(MemoryBlockDevice store, long offset, int length) {
        byte[] out = new byte[length];
        ByteBuf dst = Unpooled.wrappedBuffer(out).clear();
        try {
            int[] box = {-1};
            store.read(offset, length, dst, box, STORE);
            requireOk(box[0]);
            return out;
        } finally {
            dst.release();
        }
    }

    private static void copyChunks(MemoryBlockDevice from, BitSet chunks, MemoryBlockDevice to) {
        for (int c = chunks.nextSetBit(0); c >= 0; c = chunks.nextSetBit(c + 1)) {
            long start = (long) c * CHUNK;
            store(to, start, load(from, start, (int) Math.min(CHUNK, from.size() - start)));
        }
    }

    private static void requireOk(int errno) {
        // Ranges were checked before; a failure of the memory medium is a bug in this class.
        if (errno != IoCompletion.OK) {
            throw new IllegalStateException("memory medium failed with errno " + errno);
        }
    }
}
