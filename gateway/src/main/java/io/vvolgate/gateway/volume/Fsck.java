package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.IoCompletion;

import java.util.ArrayList;
import java.util.List;

/**
 * Offline verification of a container: superblock copies, layout, the active checkpoint, the metadata log,
 * every volume's map, and (with {@code readData}) that every mapped cluster can be read. It changes nothing
 * unless asked to repair, and then only what it can repair without guessing: a torn or stale superblock
 * copy is rewritten from the good one.
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

    public static Report check(BlockDevice device, boolean repair, boolean readData) {
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
            c = Container.open(device);
        } catch (VolumeException e) {
            out.add(new Finding(Severity.ERROR, "metadata cannot be loaded: " + e.getMessage()));
            return new Report(out, repaired);
        } catch (RuntimeException e) {
            out.add(new Finding(Severity.ERROR, "metadata is inconsistent: " + e));
            return new Report(out, repaired);
        }
        try {
            out.add(new Finding(Severity.INFO, c.volumes().size() + " volumes and snapshots; metadata loaded in " + c.recoveryMillis() + " ms"));
            long[] unreadable = {0};
            long[] mapped = {0};
            ByteBuf cluster = Unpooled.directBuffer(sb.clusterSize());
            try {
                for (VirtualVolume v : c.volumes()) {
                    long clusters = c.clusters(v.size());
                    if (v.map.clusters() < clusters) {
                        out.add(new Finding(Severity.ERROR, v + ": its map covers fewer clusters than its size"));
                    }
                    v.map.forEachMapped((lc, pc) -> {
                        mapped[0]++;
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
            Container.Space space = c.space();
            out.add(new Finding(Severity.INFO, "space: " + space.used() + " of " + space.capacity() + " bytes used, "
                    + space.provisioned() + " provisioned; " + mapped[0] + " mapped clusters"
                    + (readData ? ", " + unreadable[0] + " unreadable" : "")));
        } finally {
            c.closeWithoutCommit();
        }
        return new Report(out, repaired);
    }

    private static int read(BlockDevice device, long offset, int length, ByteBuf into) {
        return Container.readNow(device, offset, length, into);
    }
}
