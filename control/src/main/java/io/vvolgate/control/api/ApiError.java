package io.vvolgate.control.api;

/**
 * A refused API request: the HTTP status, a stable code for programs, a plain sentence for people and,
 * when one field of the request is at fault, its name (the console shows the message next to it).
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String code;
    private final String field;

    public ApiError(int status, String code, String message) {
        this(status, code, message, null);
    }

    public ApiError(int status, String code, String message, String field) {
        super(message);
        this.status = status;
        this.code = code;
        this.field = field;
    }

    public int status() {
        return status;
    }

    public String code() {
        return code;
    }

    public String field() {
        return field;
    }

    static ApiError badRequest(String code, String message, String field) {
        return new ApiError(400, code, message, field);
    }

    static ApiError notFound(String code, String message) {
        return new ApiError(404, code, message);
    }

    static ApiError conflict(String code, String message) {
        return new ApiError(409, code, message);
    }
}
