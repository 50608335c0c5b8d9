package io.vvolgate.gateway;

/**
 * A refused admin-API request, with what kind of refusal it is, so the control plane can answer with the
 * right status and a stable code. The message is a plain sentence for the operator.
 */
public final class AdminException extends GatewayException {

    /** Why the request was refused. */
    public enum Kind {
        /** Something the request names does not exist. */
        NOT_FOUND,
        /** A value is invalid whatever the state (a size not a multiple of the block size, ...). */
        INVALID,
        /** The request contradicts the current state (a name taken, a volume exported, shrinking, ...). */
        CONFLICT,
        /** The container has not the free space the request needs. */
        NO_SPACE
    }

    private final Kind kind;

    public AdminException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
