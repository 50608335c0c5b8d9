package io.vvolgate.gateway.fabrics;

import io.vvolgate.gateway.nvme.LogPages;

/**
 * An ANA group: namespaces that share one access state on every port. The control plane will use ANA
 * groups as virtual protocol endpoints. State changes are rare and made under the target's lock; readers
 * see a consistent (state, change count) pair through the volatile fields.
 */
public final class AnaGroup {
    private final int id;
    private volatile int state = LogPages.ANA_STATE_OPTIMIZED;
    private volatile long changeCount;

    AnaGroup(int id) {
        if (id < 1) {
            throw new IllegalArgumentException("ANA group IDs start at 1");
        }
        this.id = id;
    }

    public int id() {
        return id;
    }

    /** ANA state as in the ANA log: 1 optimized, 2 non-optimized, 3 inaccessible. */
    public int state() {
        return state;
    }

    public long changeCount() {
        return changeCount;
    }

    synchronized void setState(int newState) {
        if (newState != state) {
            state = newState;
            changeCount++;
        }
    }

    public boolean accessible() {
        int s = state;
        return s == LogPages.ANA_STATE_OPTIMIZED || s == LogPages.ANA_STATE_NON_OPTIMIZED;
    }
}
