package io.vvolgate.gateway.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What a writer was told is durable, checked against what reads back after a crash. Works above any
 * block-level reader (a {@link BlockDevice}, a virtual volume, an NVMe namespace through a host): the
 * writer reports each write when it submits it and when it completes, and each flush likewise; after the
 * crash and recovery {@link #verify} reads every unit ever written and checks it.
 *
 * <p>Per unit (of {@code unitSize} bytes, the atomic unit the storage under test promises) the oracle keeps
 * the content hashes of the versions that may legally read back:
 * <ul>
 *   <li>the newest version known durable: completed with FUA, or completed before a flush that was
 *       submitted after it and then completed (initially: zeroes, the content of a fresh volume);</li>
 *   <li>every version submitted after that one, acknowledged or not, failed or in flight (any of them may
 *       have reached the medium);</li>
 *   <li>older versions only while they are still in flight (they may land after the durable one).</li>
 * </ul>
 * A unit reading back as an older, superseded version is a lost durable write; one matching nothing ever
 * written there is garbage. Both fail {@link #verify} with the unit, offset and which write was lost.
 *
 * <p>Writes to one unit are assumed to be ordered by the writer (not two in flight at once), as the
 * storage under test cannot order them otherwise either.
 *
 * <p>Threads: every method is synchronized; writers on several threads may share one oracle.
 */
public final class DurabilityOracle {

    /** Reads {@code length} bytes at {@code offset} of the storage under test. */
    @FunctionalInterface
    public interface BlockReader {
        byte[] read(long offset, int length);

        /**
         * A reader over a device: waits up to 30 s for each read's completion and fails with an
         * {@link AssertionError} naming the errno if the read does.
         */
        static BlockReader of(BlockDevice device) {
            return (offset, length) -> {
                byte[] out = new byte[length];
                ByteBuf dst = Unpooled.wrappedBuffer(out).clear();
                try {
                    CompletableFuture<Integer> done = new CompletableFuture<>();
                    device.read(offset, length, dst, done, (future, errno) -> future.complete(errno));
                    int errno = done.get(30, TimeUnit.SECONDS);
                    if (errno != IoCompletion.OK) {
                        throw new AssertionError("read of " + length + " bytes at " + offset + " failed with errno " + errno);
                    }
                    return out;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError("interrupted reading at " + offset, e);
                } catch (ExecutionException | TimeoutException e) {
                    throw new AssertionError("read at " + offset + " did not complete", e);
                } finally {
                    dst.release();
                }
            };
        }
    }

    /** Most units read back in one call of the reader. */
    private static final int READ_UNITS = 256;

    private final int unitSize;
    private final long zeroHash;
    private final TreeMap<Long, Unit> units = new TreeMap<>();
    /** Completed versions not yet durable, in completion order (for flushes). */
    private final ArrayDeque<Version> completedNotDurable = new ArrayDeque<>();
    private long writes;
    private long completions;

    /** @param unitSize the atomic unit of the storage under test, a positive multiple of 8 (512, 4096) */
    public DurabilityOracle(int unitSize) {
        if (unitSize <= 0 || unitSize % 8 != 0) {
            throw new IllegalArgumentException("unit size must be a positive multiple of 8, not " + unitSize);
        }
        this.unitSize = unitSize;
        this.zeroHash = hash(new byte[unitSize], 0);
    }

    public int unitSize() {
        return unitSize;
    }

    private static final class Version {
        final Unit unit;
        final long write;
        final long hash;
        boolean ended;
        boolean durable;
        long completion;

        Version(Unit unit, long write, long hash) {
            this.unit = unit;
            this.write = write;
            this.hash = hash;
        }
    }

    private static final class Unit {
        /** Versions that may read back, oldest first. */
        final List<Version> live = new ArrayList<>(2);
        /** Every hash ever written, by write number (for naming a stale read). */
        final List<long[]> ever = new ArrayList<>(2);
        Version durable;
    }

    /** One submitted write, to be reported completed or failed. */
    public final class Write {
        private final List<Version> versions;
        private final String what;

        private Write(List<Version> versions, String what) {
            this.versions = versions;
            this.what = what;
        }

        /** The storage acknowledged the write; with {@code fua} it is durable from now on. */
        public void completed(boolean fua) {
            synchronized (DurabilityOracle.this) {
                requireOpen();
                long completion = ++completions;
                for (Version v : versions) {
                    v.ended = true;
                    v.completion = completion;
                    if (!fua) {
                        completedNotDurable.add(v);
                    }
                }
                if (fua) {
                    markDurable(versions);
                }
            }
        }

        /** The write failed (or the test stopped waiting): it may or may not have reached the medium. */
        public void failed() {
            synchronized (DurabilityOracle.this) {
                requireOpen();
                for (Version v : versions) {
                    v.ended = true;
                }
            }
        }

        private void requireOpen() {
            if (versions.stream().anyMatch(v -> v.ended)) {
                throw new IllegalStateException(what + " was already reported ended");
            }
        }

        @Override
        public String toString() {
            return what;
        }
    }

    /** One submitted flush: covers the writes completed before it was submitted. */
    public final class Flush {
        private final long covers;
        private boolean ended;

        private Flush(long covers) {
            this.covers = covers;
        }

        /** The flush was acknowledged: every write completed before its submission is durable. */
        public void completed() {
            synchronized (DurabilityOracle.this) {
                requireOpen();
                List<Version> now = new ArrayList<>();
                Iterator<Version> it = completedNotDurable.iterator();
                while (it.hasNext()) {
                    Version v = it.next();
                    if (v.completion > covers) {
                        break;
                    }
                    it.remove();
                    now.add(v);
                }
                markDurable(now);
            }
        }

        /** The flush failed: it guarantees nothing. */
        public void failed() {
            synchronized (DurabilityOracle.this) {
                requireOpen();
            }
        }

        private void requireOpen() {
            if (ended) {
                throw new IllegalStateException("flush already reported ended");
            }
            ended = true;
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Recording

    /** Records a write being submitted: from now on its data may read back. */
    public synchronized Write submitted(long offset, byte[] data) {
        requireAligned(offset, data.length);
        long write = ++writes;
        List<Version> versions = new ArrayList<>(data.length / unitSize);
        for (int at = 0; at < data.length; at += unitSize) {
            versions.add(addVersion((offset + at) / unitSize, write, hash(data, at)));
        }
        return new Write(versions, "write #" + write + " of " + data.length + " bytes at " + offset);
    }

    /** Records a write-zeroes or deallocate (both read back as zeroes) being submitted. */
    public synchronized Write submittedZeroes(long offset, long length) {
        requireAligned(offset, length);
        long write = ++writes;
        List<Version> versions = new ArrayList<>();
        for (long at = 0; at < length; at += unitSize) {
            versions.add(addVersion((offset + at) / unitSize, write, zeroHash));
        }
        return new Write(versions, "zeroes #" + write + " of " + length + " bytes at " + offset);
    }

    /** Records a flush being submitted. */
    public synchronized Flush flushSubmitted() {
        return new Flush(completions);
    }

    /** A write submitted and acknowledged (for writers that wait for each completion). */
    public void acknowledged(long offset, byte[] data, boolean fua) {
        submitted(offset, data).completed(fua);
    }

    /** A write-zeroes or deallocate submitted and acknowledged. */
    public void acknowledgedZeroes(long offset, long length, boolean fua) {
        submittedZeroes(offset, length).completed(fua);
    }

    /** A flush submitted and acknowledged. */
    public void acknowledgedFlush() {
        flushSubmitted().completed();
    }

    private Version addVersion(long unitIndex, long write, long hash) {
        Unit unit = units.computeIfAbsent(unitIndex, u -> {
            Unit created = new Unit();
            Version initial = new Version(created, 0, zeroHash);
            initial.ended = true;
            initial.durable = true;
            created.durable = initial;
            created.live.add(initial);
            created.ever.add(new long[] {0, zeroHash});
            return created;
        });
        Version v = new Version(unit, write, hash);
        unit.live.add(v);
        unit.ever.add(new long[] {write, hash});
        return v;
    }

    private void markDurable(List<Version> versions) {
        for (Version v : versions) {
            v.durable = true;
        }
        for (Version v : versions) {
            Unit unit = v.unit;
            if (v.write > unit.durable.write) {
                unit.durable = v;
                // Ended versions older than a durable one can no longer land; in-flight ones still might.
                unit.live.removeIf(old -> old.write < v.write && old.ended);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Checking

    /** Reads every unit ever written and returns one line per violation (empty if all is well). */
    public synchronized List<String> check(BlockReader reader) {
        List<String> violations = new ArrayList<>();
        forEachRead(reader, (index, unit, content, at) -> {
            long h = hash(content, at);
            for (Version v : unit.live) {
                if (v.hash == h) {
                    return;
                }
            }
            violations.add(describe(index, unit, h));
        });
        return violations;
    }

    /** As {@link #check}, failing with an {@link AssertionError} listing the first violations. */
    public void verify(BlockReader reader) {
        List<String> violations = check(reader);
        if (!violations.isEmpty()) {
            throw new AssertionError(violations.size() + " unit(s) of " + unitSize + " bytes violate durability:\n  "
                    + String.join("\n  ", violations.subList(0, Math.min(20, violations.size()))));
        }
    }

    /**
     * Starts a new epoch after a crash and recovery: each unit's only legal content becomes what reads back
     * now, as durable. Call it once that state is durable (e.g. verified right after recovery from an image
     * whose state is all on the medium), then record the writes that follow as usual.
     */
    public synchronized void rebase(BlockReader reader) {
        if (units.values().stream().anyMatch(u -> u.live.stream().anyMatch(v -> !v.ended))) {
            throw new IllegalStateException("rebase with writes still in flight");
        }
        completedNotDurable.clear();
        forEachRead(reader, (index, unit, content, at) -> {
            Version now = new Version(unit, ++writes, hash(content, at));
            now.ended = true;
            now.durable = true;
            unit.live.clear();
            unit.live.add(now);
            unit.durable = now;
            unit.ever.add(new long[] {now.write, now.hash});
        });
    }

    /** Units the oracle tracks (ever written). */
    public synchronized int trackedUnits() {
        return units.size();
    }

    @FunctionalInterface
    private interface UnitVisitor {
        void visit(long index, Unit unit, byte[] content, int at);
    }

    /** Reads tracked units in runs of consecutive indices, at most {@link #READ_UNITS} per read. */
    private void forEachRead(BlockReader reader, UnitVisitor visitor) {
        Iterator<Map.Entry<Long, Unit>> it = units.entrySet().iterator();
        List<Map.Entry<Long, Unit>> run = new ArrayList<>(READ_UNITS);
        while (it.hasNext() || !run.isEmpty()) {
            Map.Entry<Long, Unit> next = it.hasNext() ? it.next() : null;
            boolean adjacent = next != null && !run.isEmpty() && run.size() < READ_UNITS
                    && next.getKey() == run.getLast().getKey() + 1;
            if (next != null && (run.isEmpty() || adjacent)) {
                run.add(next);
                continue;
            }
            long first = run.getFirst().getKey();
            byte[] content = reader.read(first * unitSize, run.size() * unitSize);
            for (int i = 0; i < run.size(); i++) {
                visitor.visit(run.get(i).getKey(), run.get(i).getValue(), content, i * unitSize);
            }
            run.clear();
            if (next != null) {
                run.add(next);
            }
        }
    }

    private String describe(long index, Unit unit, long observed) {
        StringBuilder allowed = new StringBuilder();
        for (Version v : unit.live) {
            allowed.append(allowed.isEmpty() ? "" : ", ").append(v.write == 0 ? "zeroes" : "#" + v.write)
                    .append(v.durable ? " (durable)" : "");
        }
        String where = "unit " + index + " at offset " + index * unitSize;
        for (long[] e : unit.ever) {
            if (e[1] == observed) {
                String was = e[0] == 0 ? "the initial zeroes" : "write #" + e[0];
                return where + " holds " + was + ", which durable write #" + unit.durable.write
                        + " superseded (lost durable write); allowed: " + allowed;
            }
        }
        return where + " holds data never written there (garbage); allowed: " + allowed;
    }

    private void requireAligned(long offset, long length) {
        if (offset < 0 || length <= 0 || offset % unitSize != 0 || length % unitSize != 0) {
            throw new IllegalArgumentException("offset " + offset + " and length " + length
                    + " must be multiples of the unit size " + unitSize);
        }
    }

    /** A 64-bit hash of one unit; a collision between two versions of a unit only weakens one check. */
    private long hash(byte[] data, int at) {
        ByteBuffer b = ByteBuffer.wrap(data, at, unitSize).order(ByteOrder.LITTLE_ENDIAN);
        long h = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < unitSize; i += 8) {
            h = mix(h ^ b.getLong(at + i)) + i;
        }
        return mix(h);
    }

    /** The MurmurHash3 64-bit finalizer. */
    private static long mix(long k) {
        k ^= k >>> 33;
        k *= 0xff51afd7ed558ccdL;
        k ^= k >>> 33;
        k *= 0xc4ceb53fe63b9a85L;
        k ^= k >>> 33;
        return k;
    }
}
