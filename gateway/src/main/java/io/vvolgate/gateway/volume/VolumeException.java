package io.vvolgate.gateway.volume;

/** The storage engine could not do what was asked; the message is meant for an operator. */
public class VolumeException extends RuntimeException {
    public VolumeException(String message) {
        super(message);
    }

    public VolumeException(String message, Throwable cause) {
        super(message, cause);
    }
}
