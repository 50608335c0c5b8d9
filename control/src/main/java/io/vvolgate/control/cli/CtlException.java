package io.vvolgate.control.cli;

/**
 * Why a {@code ctl} command stopped, as the operator should read it: a sentence, a stable code in the same
 * vocabulary as the API's, and the exit status. The appliance's refusals arrive as this too.
 */
final class CtlException extends RuntimeException {
    /** The appliance refused, or could not be reached. */
    static final int EXIT_REFUSED = 1;
    /** The command line is wrong. */
    static final int EXIT_USAGE = 2;
    /** No session, or the session has ended: log in again. */
    static final int EXIT_LOGIN = 3;

    private final String code;
    private final int exitCode;
    private final int httpStatus;

    CtlException(int exitCode, String code, String message) {
        this(exitCode, code, message, 0);
    }

    CtlException(int exitCode, String code, String message, int httpStatus) {
        super(message);
        this.code = code;
        this.exitCode = exitCode;
        this.httpStatus = httpStatus;
    }

    static CtlException usage(String message) {
        return new CtlException(EXIT_USAGE, "usage", message);
    }

    static CtlException refused(String code, String message) {
        return new CtlException(EXIT_REFUSED, code, message);
    }

    /** The stable code, e.g. {@code name_taken}; {@code usage} for a bad command line. */
    String code() {
        return code;
    }

    int exitCode() {
        return exitCode;
    }

    /** The HTTP status of the appliance's answer, or 0 if the refusal did not come from it. */
    int httpStatus() {
        return httpStatus;
    }
}
