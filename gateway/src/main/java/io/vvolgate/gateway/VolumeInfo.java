package io.vvolgate.gateway;

import io.vvolgate.gateway.volume.VolumeType;

import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * A virtual volume as the admin API shows it: the volume engine's facts plus how it is exported.
 *
 * @param container      the container's name
 * @param uuid           the volume's UUID: its ID outside the gateway (hosts see it in the namespace)
 * @param name           its name in the container (unique there)
 * @param snapshot       read-only snapshot rather than writable volume or clone
 * @param parent         a snapshot: the volume it was taken of; a clone: its snapshot; else null
 * @param allocatedBytes space its map holds (shared with snapshots or not)
 * @param copyProgress   0..1 while a full clone's copy runs, else null
 * @param configNsid     the NSID of the namespace the configuration exports it as (to every admitted host), or 0
 * @param bindNsid       the NSID it is exported as for binding in its container's protocol endpoint, or 0
 * @param boundHosts     host NQNs that see the binding namespace
 */
public record VolumeInfo(String container, UUID uuid, String name, VolumeType type, long size, int blockSize, boolean thick,
                         boolean snapshot, UUID parent, long allocatedBytes, Double copyProgress, Map<String, String> metadata,
                         byte[] nguid, int configNsid, int bindNsid, Set<String> boundHosts) {
    public VolumeInfo {
        metadata = Map.copyOf(metadata);
        boundHosts = Set.copyOf(boundHosts);
        nguid = nguid.clone();
    }

    @Override
    public byte[] nguid() {
        return nguid.clone();
    }
}
