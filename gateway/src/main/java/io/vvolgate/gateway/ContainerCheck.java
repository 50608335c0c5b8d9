package io.vvolgate.gateway;

import io.vvolgate.gateway.device.FileBlockDevice;
import io.vvolgate.gateway.volume.Fsck;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
        long size;
        try {
            size = Files.size(path);
        } catch (IOException e) {
            throw new GatewayException("cannot open " + path + ": " + e.getMessage(), e);
        }
        try (FileBlockDevice device = FileBlockDevice.open(path, size, 512)) {
            Fsck.Report r = Fsck.check(device, repair, readData);
            return new ContainerCheck(r.findings().stream().map(Fsck.Finding::toString).toList(), r.clean(), r.hasErrors(), r.repaired());
        } catch (IOException e) {
            throw new GatewayException("cannot open " + path + ": " + e.getMessage(), e);
        }
    }
}
