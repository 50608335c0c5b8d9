package io.vvolgate.gateway.device;

/**
 * Receives the outcome of one {@link BlockDevice} operation.
 *
 * @param <A> the attachment given at submission (typically the request being served)
 */
@FunctionalInterface
public interface IoCompletion<A> {
    int OK = 0;
    /** An I/O error the device reported; the command fails with a media/internal error. */
    int EIO = 5;
    /** The range is outside the device. */
    int ERANGE = 34;
    /** The device has no space left (thin devices). */
    int ENOSPC = 28;
    /** Not now: the device is busy with a management change; the command may be retried. */
    int EAGAIN = 11;
    /** The device is read-only (a snapshot exported as a namespace). */
    int EROFS = 30;

    /** {@code errno} is {@link #OK} on success, else a positive errno-style code. */
    void completed(A attachment, int errno);
}
