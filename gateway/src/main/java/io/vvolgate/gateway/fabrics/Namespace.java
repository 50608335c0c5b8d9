package io.vvolgate.gateway.fabrics;

import io.vvolgate.gateway.device.BlockDevice;

import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.atomic.LongAdder;

/**
 * A namespace of a subsystem: a range of logical blocks on a {@link BlockDevice}, with the identity hosts
 * know it by (NSID, NGUID, UUID) and the ANA group it belongs to. Its commands execute on one device
 * reactor ({@link NamespaceIo}); the counters are for the SMART log.
 */
public final class Namespace {
    private final int nsid;
    private final BlockDevice device;
    private final int blockSize;
    private final int blockShift;
    private volatile long blockCount;
    private final byte[] nguid;
    private final UUID uuid;
    private final AnaGroup anaGroup;
    private NamespaceIo io;
    /**
     * The hosts that see this namespace, or null for every host the subsystem admits. A namespace the
     * control plane exports for binding starts visible to nobody ({@link java.util.Set#of()}); binding adds a
     * host NQN, unbinding removes it. Replaced whole (copy on write), read on every command.
     */
    private volatile java.util.Set<String> visibleTo;

    final LongAdder blocksRead = new LongAdder();
    final LongAdder blocksWritten = new LongAdder();
    final LongAdder readCommands = new LongAdder();
    final LongAdder writeCommands = new LongAdder();
    final LongAdder mediaErrors = new LongAdder();

    Namespace(int nsid, BlockDevice device, int blockSize, byte[] nguid, UUID uuid, AnaGroup anaGroup) {
        if (nsid < 1 || nsid == 0xFFFFFFFF) {
            throw new IllegalArgumentException("NSID must be 1..4294967294, not " + Integer.toUnsignedString(nsid));
        }
        if (blockSize != 512 && blockSize != 4096) {
            throw new IllegalArgumentException("LBA size must be 512 or 4096, not " + blockSize);
        }
        if (blockSize < device.blockSize()) {
            throw new IllegalArgumentException("LBA size " + blockSize + " is smaller than the device's block size " + device.blockSize());
        }
        if (device.size() < blockSize || device.size() % blockSize != 0) {
            throw new IllegalArgumentException("device size " + device.size() + " is not a positive multiple of " + blockSize);
        }
        if (nguid.length != 16) {
            throw new IllegalArgumentException("an NGUID has 16 bytes");
        }
        this.nsid = nsid;
        this.device = device;
        this.blockSize = blockSize;
        this.blockShift = Integer.numberOfTrailingZeros(blockSize);
        this.blockCount = device.size() / blockSize;
        this.nguid = nguid.clone();
        this.uuid = Objects.requireNonNull(uuid);
        this.anaGroup = Objects.requireNonNull(anaGroup);
    }

    /** True if the controller of {@code hostNqn} may see and use this namespace. */
    public boolean visibleTo(String hostNqn) {
        java.util.Set<String> hosts = visibleTo;
        return hosts == null || hosts.contains(hostNqn);
    }

    /** The hosts that see it, or null for every admitted host. */
    public java.util.Set<String> visibleHosts() {
        return visibleTo;
    }

    /** Restricts the namespace to these hosts (null: every admitted host). */
    synchronized void setVisibleHosts(java.util.Set<String> hosts) {
        this.visibleTo = hosts == null ? null : java.util.Set.copyOf(hosts);
    }

    /** Adds a host to a restricted namespace; false if it saw it already. */
    synchronized boolean grant(String hostNqn) {
        java.util.Set<String> hosts = visibleTo;
        if (hosts == null || hosts.contains(hostNqn)) {
            return false;
        }
        java.util.Set<String> next = new java.util.HashSet<>(hosts);
        next.add(hostNqn);
        visibleTo = java.util.Set.copyOf(next);
        return true;
    }

    /** Removes a host from a restricted namespace; false if it did not see it. */
    synchronized boolean revoke(String hostNqn) {
        java.util.Set<String> hosts = visibleTo;
        if (hosts == null || !hosts.contains(hostNqn)) {
            return false;
        }
        java.util.Set<String> next = new java.util.HashSet<>(hosts);
        next.remove(hostNqn);
        visibleTo = java.util.Set.copyOf(next);
        return true;
    }

    void attach(NamespaceIo io) {
        this.io = io;
    }

    public int nsid() {
        return nsid;
    }

    public BlockDevice device() {
        return device;
    }

    public int blockSize() {
        return blockSize;
    }

    public int blockShift() {
        return blockShift;
    }

    public long blockCount() {
        return blockCount;
    }

    /** Takes the device's size again (a volume grew); true if it changed. */
    boolean refreshSize() {
        long now = device.size() / blockSize;
        if (now == blockCount) {
            return false;
        }
        blockCount = now;
        return true;
    }

    public byte[] nguid() {
        return nguid.clone();
    }

    byte[] nguidUnsafe() {
        return nguid;
    }

    public UUID uuid() {
        return uuid;
    }

    public AnaGroup anaGroup() {
        return anaGroup;
    }

    NamespaceIo io() {
        return io;
    }
}
