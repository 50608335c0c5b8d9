package io.vvolgate.gateway;

/** The gateway could not do what the admin API asked; the message is meant for an operator. */
public class GatewayException extends RuntimeException {
    public GatewayException(String message) {
        super(message);
    }

    public GatewayException(String message, Throwable cause) {
        super(message, cause);
    }
}
