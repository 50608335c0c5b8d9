package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MirrorLeg;
import io.vvolgate.gateway.device.MirroredDevice;
import io.vvolgate.gateway.device.ReadOnlyView;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Offline verification of a container: superblock copies, layout, the active checkpoint, the metadata log,
 * every volume's map, and (with {@code readData}) that every mapped cluster can be read. It changes nothing
 * unless asked to repair, and then only what it can repair without guessing: a torn or stale superblock
 * copy is rewritten from the good one.
 *
 * <p>Without repair it writes nothing at all: the device is seen through a {@link ReadOnlyView} and the
 * container is opened with {@link Container#openReadOnly} (an interrupted full-clone copy is reported, not
 * resumed). A write attempted by mistake fails with EROFS instead of changing the device.
 *
 * <p>A container on a {@link MirroredDevice} is checked leg by leg ({@link #checkMirror}): each leg's
 * label and write-intent bitmap are reported, the container is checked on the leg reads would come from,
 * and with both legs the legs are compared wherever the bitmap says they must agree.
 */
public final class Fsck {
    public enum Severity { INFO, WARNING, ERROR }

    public record Finding(Severity severity, String message) {
        @Override
        public String toString() {
            return severity.name().toLowerCase() + ": " + message;
        }
    }

    /** What fsck found; {@code clean} when there is no warning or error left. */
    public record Report(List<Finding> findings, boolean repaired) {
        public boolean clean() {
            return findings.stream().noneMatch(f -> f.severity() != Severity.INFO);
        }

        public boolean hasErrors() {
            return findings.stream().anyMatch(f -> f.severity() == Severity.ERROR);
        }
    }

    private Fsck() {
    }

    public static Report check(BlockDevice given, boolean repair, boolean readData) {
        BlockDevice device = repair ? given : ReadOnlyView.of(given);
        List<Finding> out = new ArrayList<>();
        boolean repaired = false;
        ByteBuf buf = Unpooled.buffer(2 * Superblock.SIZE);
        if (read(device, 0, 2 * Superblock.SIZE, buf) != IoCompletion.OK) {
            out.add(new Finding(Severity.ERROR, "cannot read the superblocks"));
            return new Report(out, false);
        }
        Superblock a = Superblock.readFrom(buf, 0);
        Superblock b = Superblock.readFrom(buf, Superblock.SIZE);
        Superblock sb = Superblock.newest(a, b);
        if (sb == null) {
            out.add(new Finding(Severity.ERROR, "no valid superblock: this device holds no vvolgate container, or both copies are damaged"));
            return new Report(out, false);
        }
        out.add(new Finding(Severity.INFO, "container " + sb.containerId() + ", generation " + sb.generation() + ", "
                + sb.dataClusters() + " clusters of " + sb.clusterSize() + " bytes"));
        if (a == null || b == null || a.generation() != b.generation() || !a.equals(b)) {
            String which = a == null ? "copy A is damaged" : b == null ? "copy B is damaged"
                    : "the copies differ (generation " + a.generation() + " and " + b.generation() + ")";
            if (repair) {
                Container.writeSuperblocks(device, sb);
                repaired = true;
                out.add(new Finding(Severity.INFO, "superblock: " + which + "; repaired: both copies rewritten at generation "
                        + sb.generation()));
            } else {
                out.add(new Finding(Severity.WARNING, "superblock: " + which + " (a write was cut short; --repair rewrites it)"));
            }
        }
        if (sb.dataOffset() + sb.dataClusters() * sb.clusterSize() > device.size()) {
            out.add(new Finding(Severity.ERROR, "the layout runs past the end of the device (" + device.size() + " bytes): was the device shrunk?"));
            return new Report(out, repaired);
        }
        Container c;
        try {
            c = Container.openReadOnly(device); // fsck resumes nothing: a pending copy is serve's to finish
        } catch (VolumeException e) {
            out.add(new Finding(Severity.ERROR, "metadata cannot be loaded: " + e.getMessage()));
            return new Report(out, repaired);
        } catch (RuntimeException e) {
            out.add(new Finding(Severity.ERROR, "metadata is inconsistent: " + e));
            return new Report(out, repaired);
        }
        try {
            out.add(new Finding(Severity.INFO, c.volumes().size() + " volumes and snapshots; metadata loaded in " + c.recoveryMillis() + " ms"));
            out.add(replayFinding(sb, c.replayEnd()));
            long[] unreadable = {0};
            long[] mapped = {0};
            BitSet inMaps = new BitSet();
            ByteBuf cluster = Unpooled.directBuffer(sb.clusterSize());
            try {
                for (VirtualVolume v : c.volumes()) {
                    if (v.copyPending) {
                        out.add(new Finding(Severity.INFO, v + ": full clone, its background copy is unfinished ("
                                + Math.round(100 * c.copyProgress(v.id())) + "% of its clusters are its own); serve resumes it"));
                    }
                    long clusters = c.clusters(v.size());
                    if (v.map.clusters() < clusters) {
                        out.add(new Finding(Severity.ERROR, v + ": its map covers fewer clusters than its size"));
                    }
                    v.map.forEachMapped((lc, pc) -> {
                        mapped[0]++;
                        if (pc >= 0 && pc < sb.dataClusters()) {
                            inMaps.set((int) pc);
                        }
                        if (pc >= sb.dataClusters()) {
                            out.add(new Finding(Severity.ERROR, v + ": logical cluster " + lc + " points past the data area (" + pc + ")"));
                        } else if (readData) {
                            cluster.clear();
                            if (read(device, sb.clusterOffset(pc), sb.clusterSize(), cluster) != IoCompletion.OK) {
                                unreadable[0]++;
                                out.add(new Finding(Severity.ERROR, v + ": cluster " + pc + " (logical " + lc + ") cannot be read"));
                            }
                        }
                        return 0;
                    });
                }
            } finally {
                cluster.release();
            }
            out.addAll(crossCheckCounts(c, sb, inMaps));
            Container.Space space = c.space();
            out.add(new Finding(Severity.INFO, "space: " + space.used() + " of " + space.capacity() + " bytes used, "
                    + space.provisioned() + " provisioned; " + mapped[0] + " mapped clusters"
                    + (readData ? ", " + unreadable[0] + " unreadable" : "")));
        } finally {
            c.closeWithoutCommit();
        }
        return new Report(out, repaired);
    }

    /**
     * Every cluster some map holds must be counted in use (else it could be handed out again and overwrite
     * that map's data), and every cluster counted in use should be held by some map (else its space is lost
     * until the container is rebuilt).
     */
    static List<Finding> crossCheckCounts(Container c, Superblock sb, BitSet inMaps) {
        List<Finding> out = new ArrayList<>();
        long unCounted = 0;
        long leaked = 0;
        long firstUnCounted = -1;
        long firstLeaked = -1;
        ClusterRefcounts refs = c.refs();
        for (long pc = 0; pc < sb.dataClusters(); pc++) {
            boolean held = inMaps.get((int) pc);
            int count = refs.get(pc);
            if (held && count <= 0) {
                unCounted++;
                firstUnCounted = firstUnCounted < 0 ? pc : firstUnCounted;
            } else if (!held && count > 0) {
                leaked++;
                firstLeaked = firstLeaked < 0 ? pc : firstLeaked;
            }
        }
        if (unCounted > 0) {
            out.add(new Finding(Severity.ERROR, unCounted + " cluster(s) held by a volume's map are counted free (the first: "
                    + firstUnCounted + "): they could be handed out again and overwrite that data"));
        }
        if (leaked > 0) {
            out.add(new Finding(Severity.WARNING, leaked + " cluster(s) are counted in use but no volume's map holds them (the first: "
                    + firstLeaked + "): " + leaked * sb.clusterSize() + " bytes that no volume can use"));
        }
        return out;
    }

    /** What log replay did: where it started, how far it went, and why it stopped there. */
    static Finding replayFinding(Superblock sb, MetadataLog.Position end) {
        String from = switch (sb.activeCheckpoint()) {
            case 1 -> "checkpoint A (covers the log up to sequence " + sb.checkpointSequence() + ")";
            case 2 -> "checkpoint B (covers the log up to sequence " + sb.checkpointSequence() + ")";
            default -> "an empty container (no checkpoint yet)";
        };
        long blockIndex = end.offset() / MetadataLog.BLOCK_SIZE;
        String text = "log: " + end.blocksReplayed() + " block(s) replayed after " + from + "; replay stopped at log block "
                + blockIndex + " (where sequence " + end.sequence() + " was expected): " + end.stop().meaning();
        return end.stop().expected()
                ? new Finding(Severity.INFO, text + ". Nothing acknowledged is lost there")
                : new Finding(Severity.WARNING, text + ". Acknowledged commits are all before it; a damaged or foreign "
                        + "block in the log area is worth a look (was the device written by something else?)");
    }

    // --- mirrored containers ---

    /**
     * Checks a container on a mirror from one or both of its legs ({@code second} may be null).
     *
     * <p>Without repair nothing is written: the labels and bitmaps are read as they are (a
     * {@link MirroredDevice} would bump the generation and start copying), each leg's label is reported,
     * the container is checked on the leg reads come from (leg 0 when both are in sync, else the in-sync
     * one), and when both legs are given and the newest label says both hold the data (up to the resync
     * watermark for a resyncing leg), they are compared outside the dirty regions: the metadata areas
     * always, everything with {@code readData}. A difference there is an error: reads come from one leg, so
     * losing it would change data nobody rewrote.
     *
     * <p>With repair the mirror is opened as {@code serve} opens it (so dirty regions are copied from the
     * authority leg, and the labels rewritten), fsck waits for that copy, checks and repairs the container
     * through the mirror, closes it, and reports the legs as they are afterwards. A stale leg is not
     * resynced (that is a whole-device copy; {@code serve} does it online). A mirror whose legs are both in
     * sync is repaired only with both legs given: opening one alone would record the other as stale.
     */
    public static Report checkMirror(BlockDevice first, String firstName, BlockDevice second, String secondName,
                                     boolean repair, boolean readData) {
        if (!repair) {
            return inspectMirror(first, firstName, second, secondName, readData, null);
        }
        List<Finding> out = new ArrayList<>();
        Legs legs = readLegs(ReadOnlyView.of(first), firstName, second == null ? null : ReadOnlyView.of(second), secondName, out);
        if (legs == null) {
            return new Report(out, false);
        }
        if (second == null && legs.auth.state(1 - legs.auth.legIndex()) == MirroredDevice.LegState.IN_SYNC) {
            out.add(new Finding(Severity.WARNING, "not repaired: leg " + (1 - legs.auth.legIndex()) + " is in sync too;"
                    + " give both legs to repair (fsck --repair A B): opening one alone would record the other as stale"));
            Report look = inspectMirror(first, firstName, null, null, readData, null);
            out.addAll(look.findings());
            return new Report(out, false);
        }
        List<Finding> repairs = new ArrayList<>();
        boolean repaired = false;
        MirroredDevice mirror;
        try {
            mirror = MirroredDevice.open(first, second);
        } catch (RuntimeException e) {
            out.add(new Finding(Severity.ERROR, "the mirror cannot be opened: " + e.getMessage()));
            return new Report(out, false);
        }
        try {
            int dirty = mirror.dirtyRegions();
            if (mirror.state() == MirroredDevice.State.IN_SYNC && dirty > 0) {
                try {
                    mirror.resyncDone().get(30, TimeUnit.MINUTES);
                    repairs.add(new Finding(Severity.INFO, "repaired " + dirty + " dirty regions: copied from leg 0 to leg 1"));
                    repaired = true;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    repairs.add(new Finding(Severity.ERROR, "interrupted while repairing the dirty regions"));
                } catch (ExecutionException | TimeoutException e) {
                    repairs.add(new Finding(Severity.ERROR, "the dirty regions could not be repaired: " + e.getMessage()));
                }
            }
            Report inner = check(mirror, true, readData);
            repairs.addAll(inner.findings());
            repaired |= inner.repaired(); // (the labels' new generation, which any open writes, is no repair)
        } finally {
            mirror.close();
        }
        Report after = inspectMirror(first, firstName, second, secondName, readData, repairs);
        return new Report(after.findings(), repaired);
    }

    /** The labels of the legs given, which one rules, and what it says; null (with an error) if unusable. */
    private record Legs(MirrorLeg auth, BlockDevice authDevice, String authName, MirrorLeg other, BlockDevice otherDevice,
                        String otherName) {
    }

    private static Legs readLegs(BlockDevice first, String firstName, BlockDevice second, String secondName, List<Finding> out) {
        MirrorLeg a;
        MirrorLeg b = null;
        try {
            a = MirrorLeg.read(first);
            if (second != null) {
                b = MirrorLeg.read(second);
            }
        } catch (IllegalStateException e) {
            out.add(new Finding(Severity.ERROR, "cannot read a mirror leg: " + e.getMessage()));
            return null;
        }
        for (int i = 0; i < 2; i++) {
            MirrorLeg l = i == 0 ? a : b;
            String name = i == 0 ? firstName : secondName;
            if (l != null) {
                describe(l, name, out);
            } else if (i == 0 || second != null) {
                out.add(new Finding(Severity.WARNING, name + ": no mirror label: a blank replacement leg (or one whose label"
                        + " is damaged in both copies); serve resyncs it from the other leg"));
            }
        }
        if (a == null && b == null) {
            out.add(new Finding(Severity.ERROR, "no mirror label on any leg given"));
            return null;
        }
        if (a != null && b != null) {
            if (!a.mirrorId().equals(b.mirrorId())) {
                out.add(new Finding(Severity.ERROR, firstName + " and " + secondName + " are legs of different mirrors ("
                        + a.mirrorId() + " and " + b.mirrorId() + ")"));
                return null;
            }
            if (a.legIndex() == b.legIndex()) {
                out.add(new Finding(Severity.ERROR, firstName + " and " + secondName + " are both leg " + a.legIndex()));
                return null;
            }
        }
        // The authority, as MirroredDevice.open chooses it: the newer label; on a tie, the one whose own leg is in sync.
        boolean aRules = a != null && (b == null || a.generation() > b.generation()
                || (a.generation() == b.generation() && a.state(a.legIndex()) == MirroredDevice.LegState.IN_SYNC));
        return aRules ? new Legs(a, first, firstName, b, second, secondName) : new Legs(b, second, secondName, a, first, firstName);
    }

    private static void describe(MirrorLeg l, String name, List<Finding> out) {
        StringBuilder s = new StringBuilder(name + ": leg " + l.legIndex() + " of mirror " + l.mirrorId() + ", label generation "
                + l.generation() + ", " + l.size() + " bytes mirrored; leg 0 " + l.state0() + ", leg 1 " + l.state1());
        if (l.state0() == MirroredDevice.LegState.RESYNCING || l.state1() == MirroredDevice.LegState.RESYNCING) {
            s.append(", resync watermark ").append(l.watermark());
        }
        if (l.bitmapRecorded()) {
            BitSet d = l.dirtyRegions();
            s.append("; write-intent bitmap: ").append(d.cardinality()).append(" dirty regions of ")
                    .append(l.regionSize() >> 20).append(" MiB").append(d.isEmpty() ? "" : " " + ranges(d, l.regionSize()));
        }
        out.add(new Finding(Severity.INFO, s.toString()));
        if (!l.bitmapRecorded()) {
            out.add(new Finding(Severity.WARNING, name + ": the label records no write-intent bitmap: the legs may differ"
                    + " anywhere; the next open copies the whole mirror from the authority leg"));
        }
    }

    /** Up to 8 byte ranges of the data area the set bits cover, merged. */
    private static String ranges(BitSet bits, long unit) {
        StringBuilder s = new StringBuilder();
        int shown = 0;
        for (int r = bits.nextSetBit(0); r >= 0; r = bits.nextSetBit(bits.nextClearBit(r))) {
            if (shown++ == 8) {
                return s.append(", ...]").toString();
            }
            int end = bits.nextClearBit(r);
            s.append(shown == 1 ? "[" : ", ").append(r * unit).append("..").append(end * unit);
        }
        return s.append("]").toString();
    }

    private static Report inspectMirror(BlockDevice firstDevice, String firstName, BlockDevice secondDevice, String secondName,
                                        boolean readData, List<Finding> containerFindings) {
        BlockDevice first = ReadOnlyView.of(firstDevice);
        BlockDevice second = secondDevice == null ? null : ReadOnlyView.of(secondDevice);
        List<Finding> out = new ArrayList<>();
        Legs legs = readLegs(first, firstName, second, secondName, out);
        if (legs == null) {
            return new Report(out, false);
        }
        MirrorLeg auth = legs.auth;
        int authLeg = auth.legIndex();
        MirroredDevice.LegState own = auth.state(authLeg);
        MirroredDevice.LegState otherState = auth.state(1 - authLeg);
        boolean otherPresent = legs.otherDevice != null && legs.other != null;
        if (own != MirroredDevice.LegState.IN_SYNC) {
            if (otherPresent || legs.otherDevice != null) {
                out.add(new Finding(Severity.ERROR, "no in-sync leg: the newest label (" + legs.authName + ") records leg " + authLeg
                        + " " + own + " and leg " + (1 - authLeg) + " " + otherState));
                return new Report(out, false);
            }
            out.add(new Finding(Severity.WARNING, legs.authName + " records itself " + own + ": its data may be out of date;"
                    + " the current data is on leg " + (1 - authLeg)));
        } else if (legs.otherDevice == null) {
            out.add(new Finding(otherState == MirroredDevice.LegState.IN_SYNC ? Severity.INFO : Severity.WARNING,
                    "leg " + (1 - authLeg) + " (recorded " + otherState + ") was not given: the legs are not compared"));
        } else if (otherState == MirroredDevice.LegState.STALE) {
            out.add(new Finding(Severity.WARNING, "leg " + (1 - authLeg) + " is stale: serve resyncs it online"));
        } else if (otherState == MirroredDevice.LegState.RESYNCING) {
            out.add(new Finding(Severity.WARNING, "leg " + (1 - authLeg) + " is being resynced (" + auth.watermark() + " of "
                    + auth.size() + " bytes copied): serve resumes the copy"));
        }
        // Where the legs are both meant to hold the data, and of that where they may differ (as MirroredDevice.open).
        boolean bothInSync = own == MirroredDevice.LegState.IN_SYNC && otherState == MirroredDevice.LegState.IN_SYNC;
        long limit = bothInSync ? auth.size() : otherState == MirroredDevice.LegState.RESYNCING ? auth.watermark() : 0;
        BitSet dirty = new BitSet();
        for (MirrorLeg l : new MirrorLeg[] {auth, legs.other}) {
            if (l != null && auth.state(l.legIndex()) == MirroredDevice.LegState.IN_SYNC) {
                dirty.or(l.dirtyRegions());
            }
        }
        if (!auth.bitmapRecorded()) {
            dirty.set(0, auth.regionCount());
        }
        int mayDiffer = limit == 0 ? 0 : dirty.get(0, (int) ((limit - 1) / auth.regionSize()) + 1).cardinality();
        if (mayDiffer > 0) {
            out.add(new Finding(Severity.WARNING, mayDiffer + " dirty regions: the legs may differ there (the mirror was not"
                    + " stopped cleanly); the next open copies them from leg 0 (or --repair now)"));
        }
        // The container lives on the leg reads come from: leg 0 when both are in sync, else the in-sync one.
        BlockDevice data = legs.authDevice;
        String dataName = legs.authName;
        if (bothInSync && authLeg != 0 && otherPresent) {
            data = legs.otherDevice;
            dataName = legs.otherName;
        }
        if (data.size() < MirroredDevice.DATA_OFFSET + auth.size()) {
            out.add(new Finding(Severity.ERROR, dataName + " holds " + data.size() + " bytes, too few for " + auth.size()
                    + " mirrored bytes: was it truncated?"));
            return new Report(out, false);
        }
        BlockDevice container = new ReadOnlyView(data, MirroredDevice.DATA_OFFSET, auth.size());
        if (containerFindings == null) {
            out.add(new Finding(Severity.INFO, "the container is checked on " + dataName + ", from byte " + MirroredDevice.DATA_OFFSET));
            out.addAll(check(container, false, readData).findings());
        } else {
            out.addAll(containerFindings);
        }
        if (otherPresent && limit > 0) {
            compare(legs, container, limit, dirty, readData, out);
        }
        return new Report(out, false);
    }

    /** Compares the legs below {@code limit} outside the dirty regions: metadata always, everything with readData. */
    private static void compare(Legs legs, BlockDevice container, long limit, BitSet dirty, boolean readData, List<Finding> out) {
        long end = limit;
        if (!readData) {
            Superblock sb = null;
            try {
                sb = Container.readSuperblock(container);
            } catch (VolumeException e) {
                // compared as far as the first region below
            }
            end = Math.min(limit, sb != null ? sb.dataOffset() : MirroredDevice.RESYNC_CHUNK);
        }
        long regionSize = legs.auth.regionSize();
        int chunk = MirroredDevice.RESYNC_CHUNK; // divides a region, so a chunk is wholly dirty or wholly clean
        ByteBuf x = Unpooled.directBuffer(chunk);
        ByteBuf y = Unpooled.directBuffer(chunk);
        long compared = 0;
        long skipped = 0;
        List<long[]> differ = new ArrayList<>();
        try {
            for (long at = 0; at < end; at += chunk) {
                int length = (int) Math.min(chunk, end - at);
                if (dirty.get((int) (at / regionSize))) {
                    skipped += length;
                    continue;
                }
                x.clear();
                y.clear();
                long legOffset = MirroredDevice.DATA_OFFSET + at;
                if (read(legs.authDevice, legOffset, length, x) != IoCompletion.OK || read(legs.otherDevice, legOffset, length, y) != IoCompletion.OK) {
                    out.add(new Finding(Severity.ERROR, "the legs cannot be compared: a read at mirror byte " + at + " failed"));
                    return;
                }
                compared += length;
                if (!x.nioBuffer(0, length).equals(y.nioBuffer(0, length))) { // one call, not one per long (leak tracking)
                    long[] last = differ.isEmpty() ? null : differ.getLast();
                    if (last != null && last[1] == at) {
                        last[1] = at + length;
                    } else {
                        differ.add(new long[] {at, at + length});
                    }
                }
            }
        } finally {
            x.release();
            y.release();
        }
        String what = readData ? "the whole mirror" : "the container's metadata area";
        if (differ.isEmpty()) {
            out.add(new Finding(Severity.INFO, "the legs agree: " + compared + " bytes of " + what + " compared"
                    + (skipped > 0 ? ", " + skipped + " bytes in dirty regions left out" : "")));
        } else {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < Math.min(8, differ.size()); i++) {
                s.append(i == 0 ? "" : ", ").append(differ.get(i)[0]).append("..").append(differ.get(i)[1]);
            }
            out.add(new Finding(Severity.ERROR, "the legs differ where the bitmap says they agree, in " + differ.size()
                    + " ranges of mirror bytes [" + s + (differ.size() > 8 ? ", ...]" : "]") + " (" + compared + " bytes of "
                    + what + " compared): reads come from one leg, so losing it would change data nobody rewrote"));
        }
    }

    private static int read(BlockDevice device, long offset, int length, ByteBuf into) {
        return Container.readNow(device, offset, length, into);
    }
}
