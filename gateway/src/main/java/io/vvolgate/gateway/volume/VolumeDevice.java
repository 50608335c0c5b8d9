package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.DeviceHealth;
import io.vvolgate.gateway.device.IoCompletion;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A virtual volume seen as a block device, so that the target exports it as a namespace like any other.
 * Reads follow the volume's map (unmapped clusters read as zeroes); writes go in place or copy-on-write as
 * {@link Container} describes; Flush (and FUA) commit the container.
 *
 * <p>Any thread may call; the container's lock orders the map changes, and device I/O runs outside it.
 */
public final class VolumeDevice implements BlockDevice {
    private final Container container;
    private final long volumeId;
    private final int blockSize;

    VolumeDevice(Container container, long volumeId) {
        this.container = container;
        this.volumeId = volumeId;
        this.blockSize = container.volume(volumeId).blockSize();
    }

    public long volumeId() {
        return volumeId;
    }

    @Override
    public long size() {
        VirtualVolume v;
        synchronized (container) {
            v = container.liveVolume(volumeId);
        }
        return v == null ? 0 : v.size();
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean readOnly() {
        synchronized (container) {
            VirtualVolume v = container.liveVolume(volumeId);
            return v != null && v.readOnly();
        }
    }

    @Override
    public boolean volatileWriteCache() {
        return true;
    }

    @Override
    public DeviceHealth health() {
        return container.physical().health();
    }

    @Override
    public void close() {
        // The container owns the physical device.
    }

    /** Tracks the pieces of one request; the last one to finish answers it. */
    private static final class Request<A> {
        final A attachment;
        final IoCompletion<A> completion;
        int remaining = 1; // one for the submitter, released when all pieces are issued
        int errno = IoCompletion.OK;
        List<Long> filled;
        List<Long> pinned;
        ByteBuf dst;
        int dstEnd;
        boolean fua;

        Request(A attachment, IoCompletion<A> completion) {
            this.attachment = attachment;
            this.completion = completion;
        }
    }

    private int check(VirtualVolume v, long offset, long length, boolean write) {
        if (v == null) {
            return IoCompletion.EIO;
        }
        if (v.fenced) {
            return IoCompletion.EAGAIN;
        }
        if (write && v.readOnly()) {
            return IoCompletion.EROFS;
        }
        if (offset < 0 || length < 0 || offset % blockSize != 0 || length % blockSize != 0 || offset + length > v.size()) {
            return IoCompletion.ERANGE;
        }
        return IoCompletion.OK;
    }

    // --- read ---

    @Override
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        int cs = container.clusterSize();
        Request<A> req = new Request<>(attachment, completion);
        List<long[]> pieces = new ArrayList<>(); // {dstIndex, physicalOffset or -1, length, cluster}
        int base = dst.writerIndex();
        synchronized (container) {
            VirtualVolume v = container.liveVolume(volumeId);
            int errno = check(v, offset, length, false);
            if (errno != IoCompletion.OK) {
                completion.completed(attachment, errno);
                return;
            }
            if (dst.writableBytes() < length) {
                completion.completed(attachment, IoCompletion.EIO);
                return;
            }
            for (long at = offset; at < offset + length; ) {
                long lc = at / cs;
                int in = (int) (at % cs);
                int n = (int) Math.min(cs - in, offset + length - at);
                long pc = v.map.get(lc);
                if (pc != ClusterMap.UNMAPPED && container.waitIfFilling(pc, () -> read(offset, length, dst, attachment, completion))) {
                    return;
                }
                pieces.add(new long[] {base + (at - offset), pc == ClusterMap.UNMAPPED ? -1 : container.clusterOffset(pc) + in, n, pc});
                at += n;
            }
            req.pinned = new ArrayList<>();
            for (long[] p : pieces) {
                if (p[3] != ClusterMap.UNMAPPED) {
                    container.refs().increment(p[3]); // pinned: not freed and reused while we read it
                    req.pinned.add(p[3]);
                }
            }
            req.remaining += pieces.size();
        }
        req.dst = dst;
        req.dstEnd = base + length;
        for (long[] p : pieces) {
            if (p[1] < 0) {
                dst.setZero((int) p[0], (int) p[2]);
                pieceDone(req, IoCompletion.OK);
            } else {
                ByteBuf slice = dst.slice((int) p[0], (int) p[2]).clear();
                container.physical().read(p[1], (int) p[2], slice, req, this::pieceDone);
            }
        }
        pieceDone(req, IoCompletion.OK);
    }

    // --- write, write zeroes, deallocate ---

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion) {
        modify(offset, length, src, fua, false, attachment, completion);
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        modify(offset, length, null, fua, true, attachment, completion);
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        modify(offset, length, null, false, true, attachment, completion);
    }

    /**
     * The write path. {@code src} null means zeroes; with {@code unmapWhole}, whole clusters are unmapped
     * rather than written.
     */
    private <A> void modify(long offset, long length, ByteBuf src, boolean fua, boolean unmapWhole, A attachment,
                            IoCompletion<A> completion) {
        int cs = container.clusterSize();
        Request<A> req = new Request<>(attachment, completion);
        req.fua = fua;
        List<Runnable> issue = new ArrayList<>();
        synchronized (container) {
            // Room in the log for this request's records, before it starts filling clusters of its own.
            try {
                container.ensureLogSpace();
            } catch (VolumeException e) {
                // The checkpoint failed, nothing changed; out of metadata space is Capacity Exceeded to a host.
                completion.completed(attachment, e instanceof Container.MetadataFullException ? IoCompletion.ENOSPC : IoCompletion.EIO);
                return;
            }
            VirtualVolume v = container.liveVolume(volumeId);
            int errno = check(v, offset, length, true);
            if (errno != IoCompletion.OK) {
                completion.completed(attachment, errno);
                return;
            }
            // First pass: wait for clusters being filled, and make sure there is room, before changing anything.
            long segments = 0;
            for (long at = offset; at < offset + length; at = (at / cs + 1) * cs) {
                long pc = v.map.get(at / cs);
                if (pc != ClusterMap.UNMAPPED && container.waitIfFilling(pc,
                        () -> modify(offset, length, src, fua, unmapWhole, attachment, completion))) {
                    return;
                }
                long end = Math.min((at / cs + 1) * cs, offset + length);
                boolean partial = at % cs != 0 || end - at < cs;
                // Whole clusters being unmapped need no new cluster; everything else may (copy-on-write).
                if (!unmapWhole || (partial && pc != ClusterMap.UNMAPPED)) {
                    segments++;
                }
            }
            if (segments > 0 && !container.mayAllocate(v, segments)) {
                completion.completed(attachment, IoCompletion.ENOSPC);
                return;
            }
            req.filled = new ArrayList<>();
            req.pinned = new ArrayList<>();
            for (long at = offset; at < offset + length; ) {
                long lc = at / cs;
                int in = (int) (at % cs);
                int n = (int) Math.min(cs - in, offset + length - at);
                int srcIndex = src == null ? -1 : src.readerIndex() + (int) (at - offset);
                if (unmapWhole && n == cs) {
                    if (v.map.get(lc) != ClusterMap.UNMAPPED) {
                        v.map.unmap(lc);
                        container.logUnmap(volumeId, lc);
                    }
                } else if (unmapWhole && v.map.get(lc) == ClusterMap.UNMAPPED) {
                    // zeroing part of an unmapped cluster: it already reads as zeroes
                } else {
                    planWrite(v, lc, in, n, src, srcIndex, req, issue);
                }
                at += n;
            }
            req.remaining += issue.size();
        }
        for (Runnable r : issue) {
            r.run();
        }
        pieceDone(req, IoCompletion.OK);
    }

    /** Decides in place or copy-on-write for one cluster's part of a write, under the lock. */
    private <A> void planWrite(VirtualVolume v, long lc, int in, int n, ByteBuf src, int srcIndex, Request<A> req, List<Runnable> issue) {
        int cs = container.clusterSize();
        BlockDevice dev = container.physical();
        long pc = v.map.ownPath(lc);
        // In place only into a cluster no other map holds, in memory or in the durable metadata.
        if (pc != ClusterMap.UNMAPPED && container.refs().get(pc) == 1 && container.mayWriteInPlace(pc)) {
            long at = container.clusterOffset(pc) + in;
            issue.add(() -> writeOrZero(dev, at, n, src, srcIndex, req));
            return;
        }
        long c = container.allocate();
        container.startFilling(c);
        v.map.set(lc, c);
        container.logMap(volumeId, lc, c);
        req.filled.add(c);
        long target = container.clusterOffset(c);
        if (n == cs) {
            issue.add(() -> writeOrZero(dev, target, n, src, srcIndex, req));
            return;
        }
        if (pc != ClusterMap.UNMAPPED) {
            container.refs().increment(pc); // pinned while its old contents are copied
            req.pinned.add(pc);
        }
        long old = pc == ClusterMap.UNMAPPED ? -1 : container.clusterOffset(pc);
        issue.add(() -> {
            ByteBuf whole = Container.directBuffer(cs);
            Runnable overlayAndWrite = () -> {
                if (src == null) {
                    whole.setZero(in, n);
                } else {
                    whole.setBytes(in, src, srcIndex, n);
                }
                whole.writerIndex(cs);
                dev.write(target, cs, whole, false, req, (r, errno) -> {
                    whole.release();
                    pieceDone(r, errno);
                });
            };
            if (old < 0) {
                whole.writeZero(cs);
                overlayAndWrite.run();
            } else {
                dev.read(old, cs, whole, req, (r, errno) -> {
                    if (errno != IoCompletion.OK) {
                        whole.release();
                        pieceDone(r, errno);
                    } else {
                        overlayAndWrite.run();
                    }
                });
            }
        });
    }

    private <A> void writeOrZero(BlockDevice dev, long at, int n, ByteBuf src, int srcIndex, Request<A> req) {
        if (src == null) {
            dev.writeZeroes(at, n, false, req, this::pieceDone);
        } else {
            ByteBuf piece = src.slice(srcIndex, n);
            dev.write(at, n, piece, false, req, this::pieceDone);
        }
    }

    // --- flush ---

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        container.commit().whenComplete((v, e) -> completion.completed(attachment, e == null ? IoCompletion.OK : IoCompletion.EIO));
    }

    // --- completion ---

    private <A> void pieceDone(Request<A> req, int errno) {
        boolean last;
        ArrayDeque<Runnable> waiting = null;
        synchronized (req) {
            if (errno != IoCompletion.OK && req.errno == IoCompletion.OK) {
                req.errno = errno;
            }
            last = --req.remaining == 0;
        }
        if (!last) {
            return;
        }
        synchronized (container) {
            if (req.pinned != null) {
                for (long pc : req.pinned) {
                    container.refs().unpin(pc);
                }
            }
            if (req.filled != null) {
                for (long c : req.filled) {
                    ArrayDeque<Runnable> w = container.doneFilling(c);
                    if (w != null && !w.isEmpty()) {
                        if (waiting == null) {
                            waiting = new ArrayDeque<>();
                        }
                        waiting.addAll(w);
                    }
                }
            }
        }
        if (req.dst != null && req.errno == IoCompletion.OK) {
            req.dst.writerIndex(req.dstEnd);
        }
        if (req.fua && req.errno == IoCompletion.OK) {
            CompletableFuture<Void> durable = container.commit();
            durable.whenComplete((v, e) -> req.completion.completed(req.attachment, e == null ? IoCompletion.OK : IoCompletion.EIO));
        } else {
            req.completion.completed(req.attachment, req.errno);
        }
        if (waiting != null) {
            for (Runnable r : waiting) {
                r.run();
            }
        }
    }
}
