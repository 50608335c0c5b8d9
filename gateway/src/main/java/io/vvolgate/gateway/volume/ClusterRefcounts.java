package io.vvolgate.gateway.volume;

import java.util.Arrays;

/**
 * How many map leaves hold each physical cluster of a container. A cluster with count 0 is free; one
 * with count above 1 is shared (by snapshots or clones) and must be copied before a head writes it.
 *
 * <p>Owned by the container's metadata thread; not thread-safe.
 */
public final class ClusterRefcounts {
    /** Called when a cluster's count drops to zero. */
    @FunctionalInterface
    public interface FreeListener {
        void freed(long cluster);
    }

    private int[] counts;
    private final FreeListener onFree;
    private long referenced;

    public ClusterRefcounts(long clusters, FreeListener onFree) {
        this.counts = new int[Math.toIntExact(clusters)];
        this.onFree = onFree;
    }

    public long capacity() {
        return counts.length;
    }

    /** Makes room for clusters up to {@code clusters} (a container that grew). */
    public void grow(long clusters) {
        if (clusters > counts.length) {
            counts = Arrays.copyOf(counts, Math.toIntExact(clusters));
        }
    }

    public int get(long cluster) {
        return counts[(int) cluster];
    }

    public void increment(long cluster) {
        int i = (int) cluster;
        if (counts[i]++ == 0) {
            referenced++;
        }
    }

    public void decrement(long cluster) {
        int i = (int) cluster;
        int c = counts[i];
        if (c <= 0) {
            throw new IllegalStateException("cluster " + cluster + " released more often than held");
        }
        counts[i] = c - 1;
        if (c == 1) {
            referenced--;
            onFree.freed(cluster);
        }
    }

    /** Clusters held by at least one map. */
    public long referencedClusters() {
        return referenced;
    }
}
