package io.vvolgate.gateway;

import java.nio.file.Path;

/**
 * A device under a container, with its health.
 *
 * @param container      the container's name
 * @param path           the image or block device
 * @param leg            0 or 1 for a leg of a mirrored pair, -1 for a single device
 * @param state          "ok" (single device), "in_sync", "stale", "resyncing", "failed" or "missing"
 * @param size           bytes
 * @param resyncProgress 0..1 while this leg is resynced, else null
 */
public record DeviceInfo(String container, Path path, int leg, String state, long size, Double resyncProgress) {
}
