package io.vvolgate.gateway;

import io.vvolgate.gateway.device.BlockDevice;
import io.vvolgate.gateway.device.FileBlockDevice;
import io.vvolgate.gateway.device.MirrorLeg;
import io.vvolgate.gateway.volume.Fsck;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The admin API's offline container check ({@code vvolgate fsck}): what was found, one line each.
 *
 * @param lines    findings, each starting with "info:", "warning:" or "error:"
 * @param clean    nothing but information
 * @param errors   at least one error: the container cannot be trusted as it is
 * @param repaired something was repaired (only when asked)
 */
public record ContainerCheck(List<String> lines, boolean clean, boolean errors, boolean repaired) {

    /** Checks the container on the image file or block device at {@code path}; changes it only with {@code repair}. */
    public static ContainerCheck run(Path path, boolean repair, boolean readData) {
        return run(List.of(path), repair, readData);
    }

    /**
     * Checks the container on one image or block device, or on one or both legs of a mirrored pair (a leg
     * is recognised by its mirror label, so the container inside it, 1 MiB on, is found). Without
     * {@code repair} every path is opened for reading only.
     *
     * @throws GatewayException if a path cannot be opened, or two paths are given and neither is a mirror leg
     */
    public static ContainerCheck run(List<Path> paths, boolean repair, boolean readData) {
        if (paths.isEmpty() || paths.size() > 2) {
            throw new GatewayException("fsck takes one image, or the two legs of a mirrored pair, not " + paths.size());
        }
        List<BlockDevice> devices = new ArrayList<>();
        try {
            for (Path p : paths) {
                devices.add(open(p, repair));
            }
            boolean mirror = false;
            for (BlockDevice d : devices) {
                try {
                    mirror |= MirrorLeg.read(d) != null;
                } catch (IllegalStateException e) {
                    throw new GatewayException("cannot read " + paths.get(devices.indexOf(d)) + ": " + e.getMessage(), e);
                }
            }
            Fsck.Report r;
            if (mirror) {
                r = Fsck.checkMirror(devices.get(0), paths.get(0).toString(), devices.size() > 1 ? devices.get(1) : null,
                        devices.size() > 1 ? paths.get(1).toString() : null, repair, readData);
            } else if (devices.size() == 1) {
                r = Fsck.check(devices.getFirst(), repair, readData);
            } else {
                throw new GatewayException("neither " + paths.get(0) + " nor " + paths.get(1) + " is a leg of a mirrored pair;"
                        + " give one image to check a container that is not mirrored");
            }
            return new ContainerCheck(r.findings().stream().map(Fsck.Finding::toString).toList(), r.clean(), r.hasErrors(), r.repaired());
        } finally {
            for (BlockDevice d : devices) {
                d.close();
            }
        }
    }

    private static BlockDevice open(Path path, boolean repair) {
        try {
            FileBlockDevice look = FileBlockDevice.openReadOnly(path, 512);
            if (!repair) {
                return look;
            }
            long size = look.size();
            look.close();
            return FileBlockDevice.open(path, size, 512);
        } catch (IOException | IllegalArgumentException e) {
            throw new GatewayException("cannot open " + path + ": " + e.getMessage(), e);
        }
    }
}
