package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.util.BitSet;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * What one leg of a {@link MirroredDevice} says about its mirror: the newest valid label and the leg's own
 * write-intent bitmap, read without changing anything (for fsck; {@link MirroredDevice#open} writes labels
 * and repairs, so an offline check cannot use it). The layout is drawn in {@link MirroredDevice}.
 *
 * @param mirrorId       the UUID both legs of the pair carry
 * @param legIndex       this leg's index, 0 or 1
 * @param generation     the label's generation; the higher of two legs' is the authority
 * @param size           bytes of mirrored data, from {@link MirroredDevice#DATA_OFFSET} on
 * @param state0         leg 0's state as this label last knew it
 * @param state1         leg 1's state as this label last knew it
 * @param watermark      bytes of the data area known copied to a resyncing leg
 * @param bitmapRecorded false if the label records no bitmap (written by a version without one, or by
 *                       another region size): the legs may then differ anywhere
 * @param regionSize     bytes of the data area one bitmap bit covers
 * @param dirtyRegions   the regions this leg's bitmap marks (all of them when no bitmap is recorded)
 */
public record MirrorLeg(UUID mirrorId, int legIndex, long generation, long size, int blockSize,
                        MirroredDevice.LegState state0, MirroredDevice.LegState state1, long watermark,
                        boolean bitmapRecorded, long regionSize, BitSet dirtyRegions) {

    /** Leg {@code leg}'s state as this label records it. */
    public MirroredDevice.LegState state(int leg) {
        return leg == 0 ? state0 : state1;
    }

    /** Regions the data area has. */
    public int regionCount() {
        return (int) (((size - 1) / regionSize) + 1);
    }

    /**
     * Reads the label and bitmap of the leg on {@code device}; null if it holds no valid label (blank, torn
     * in both copies, or not a mirror leg).
     *
     * @throws IllegalStateException if the device cannot be read
     */
    public static MirrorLeg read(BlockDevice device) {
        ByteBuf buf = Unpooled.buffer(2 * MirroredDevice.Label.SIZE);
        MirroredDevice.Label label;
        if (await(device, 0, 2 * MirroredDevice.Label.SIZE, buf) != IoCompletion.OK) {
            throw new IllegalStateException("cannot read the mirror label");
        }
        label = MirroredDevice.Label.newest(MirroredDevice.Label.readFrom(buf, 0),
                MirroredDevice.Label.readFrom(buf, MirroredDevice.Label.SIZE));
        if (label == null) {
            return null;
        }
        int shift = MirroredDevice.regionShiftFor(label.size());
        int regions = (int) (((label.size() - 1) >>> shift) + 1);
        boolean recorded = label.regionShift() == shift;
        BitSet dirty = new BitSet(regions);
        if (recorded) {
            int blocks = (regions + MirroredDevice.REGIONS_PER_BLOCK - 1) / MirroredDevice.REGIONS_PER_BLOCK;
            int length = blocks * MirroredDevice.BITMAP_BLOCK;
            ByteBuf bits = Unpooled.buffer(length);
            if (await(device, MirroredDevice.BITMAP_OFFSET, length, bits) != IoCompletion.OK) {
                throw new IllegalStateException("cannot read the write-intent bitmap");
            }
            byte[] raw = new byte[length];
            bits.getBytes(0, raw);
            dirty = BitSet.valueOf(raw);
            dirty.clear(regions, Math.max(regions, dirty.length()));
        } else {
            dirty.set(0, regions);
        }
        return new MirrorLeg(label.mirrorId(), label.legIndex(), label.generation(), label.size(), label.blockSize(),
                label.state0(), label.state1(), label.watermark(), recorded, 1L << shift, dirty);
    }

    private static int await(BlockDevice device, long offset, int length, ByteBuf into) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        device.read(offset, length, into, done, (f, errno) -> f.complete(errno));
        try {
            return done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return IoCompletion.EIO;
        } catch (ExecutionException e) {
            return IoCompletion.EIO;
        }
    }
}
