package io.vvolgate.gateway;

/**
 * The spec asks for a namespace that contradicts what its storage already holds (a volume larger than the
 * size asked for, or with another block size). Not a fault of the gateway: the spec is to be corrected,
 * and {@link #nqn()} and {@link #nsid()} say which namespace, so the control plane can point at its line
 * in the configuration. The message says what is wrong without naming the namespace.
 */
public final class NamespaceConflictException extends GatewayException {
    private final String nqn;
    private final int nsid;

    public NamespaceConflictException(String nqn, int nsid, String message) {
        super(message);
        this.nqn = nqn;
        this.nsid = nsid;
    }

    public String nqn() {
        return nqn;
    }

    public int nsid() {
        return nsid;
    }
}
