package io.vvolgate.gateway.volume;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * A virtual volume of a container: a head (writable), a snapshot (read-only, frozen) or a linked clone
 * (writable, sharing its snapshot's clusters). Its blocks are a {@link ClusterMap}; its identity (ID,
 * NGUID, UUID) is fixed at creation; its metadata key-values are where ESXi keeps the VM's identity.
 *
 * <p>Guarded by the container's lock; the accessors read under it or return immutable values.
 */
public final class VirtualVolume {
    private final long id;
    private final String name;
    private final VolumeType type;
    private final int blockSize;
    private final byte[] nguid;
    private final UUID uuid;
    private final boolean readOnly;
    private final long parentId;
    private final boolean thick;          // the volume a snapshot was taken of / the snapshot a clone came from; 0 = none
    private long size;
    ClusterMap map;
    final Map<String, String> metadata = new LinkedHashMap<>();
    boolean deleted;
    /** A full clone whose background copy has not finished. */
    boolean copyPending;
    java.util.concurrent.CompletableFuture<Void> copyDone;
    /** While a delete or revert commits: I/O is answered "try again". */
    boolean fenced;

    VirtualVolume(long id, String name, VolumeType type, long size, int blockSize, byte[] nguid, UUID uuid,
                  boolean readOnly, long parentId, ClusterMap map) {
        this(id, name, type, size, blockSize, nguid, uuid, readOnly, parentId, map, false);
    }

    VirtualVolume(long id, String name, VolumeType type, long size, int blockSize, byte[] nguid, UUID uuid,
                  boolean readOnly, long parentId, ClusterMap map, boolean thick) {
        this.thick = thick && !readOnly;
        this.id = id;
        this.name = name;
        this.type = type;
        this.size = size;
        this.blockSize = blockSize;
        this.nguid = nguid.clone();
        this.uuid = uuid;
        this.readOnly = readOnly;
        this.parentId = parentId;
        this.map = map;
    }

    public long id() {
        return id;
    }

    public String name() {
        return name;
    }

    public VolumeType type() {
        return type;
    }

    public synchronized long size() {
        return size;
    }

    synchronized void size(long newSize) {
        this.size = newSize;
    }

    public int blockSize() {
        return blockSize;
    }

    public byte[] nguid() {
        return nguid.clone();
    }

    public UUID uuid() {
        return uuid;
    }

    /** Thick volumes reserve their whole size in the container when created. */
    public boolean thick() {
        return thick;
    }

    /** Clusters a thick volume still holds in reserve: its size minus what it has mapped. */
    long reservedClusters(int clusterSize) {
        if (!thick) {
            return 0;
        }
        long total = (size() + clusterSize - 1) / clusterSize;
        return Math.max(0, total - map.mappedClusters());
    }

    /** Snapshots are read-only; heads and clones are writable. */
    public boolean readOnly() {
        return readOnly;
    }

    /** For a snapshot the volume it was taken of; for a clone its snapshot; 0 for an original volume. */
    public long parentId() {
        return parentId;
    }

    public Map<String, String> metadataView() {
        return Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    @Override
    public String toString() {
        return (readOnly ? "snapshot " : "volume ") + id + " (" + name + ")";
    }
}
