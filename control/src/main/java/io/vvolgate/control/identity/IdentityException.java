package io.vvolgate.control.identity;

/** The identity file cannot be read or written; the message names the file and, if known, the line. */
public final class IdentityException extends Exception {
    public IdentityException(String message) {
        super(message);
    }

    public IdentityException(String message, Throwable cause) {
        super(message, cause);
    }
}
