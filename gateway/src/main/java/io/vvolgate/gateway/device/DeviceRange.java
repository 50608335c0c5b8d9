package io.vvolgate.gateway.device;

/**
 * The bounds and alignment check every backend makes before touching its medium, so that a request the
 * device cannot serve fails with {@link IoCompletion#ERANGE} the same way everywhere. Stateless.
 */
final class DeviceRange {

    private DeviceRange() {
    }

    /**
     * Returns {@link IoCompletion#OK} if {@code [offset, offset + length)} lies inside a device of
     * {@code size} bytes and both ends are multiples of {@code blockSize}, else {@link IoCompletion#ERANGE}.
     * A misaligned request is reported as out of range too: the core converts LBAs to bytes, so it can
     * only come from a bug above the device, and the host sees the same LBA-out-of-range status.
     */
    static int check(long offset, long length, long size, int blockSize) {
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            return IoCompletion.ERANGE;
        }
        if (offset % blockSize != 0 || length % blockSize != 0) {
            return IoCompletion.ERANGE;
        }
        return IoCompletion.OK;
    }

    /** Refuses a geometry no backend supports; used by the constructors. */
    static void requireGeometry(long size, int blockSize) {
        if (blockSize != 512 && blockSize != 4096) {
            throw new IllegalArgumentException("block size must be 512 or 4096, not " + blockSize);
        }
        if (size <= 0 || size % blockSize != 0) {
            throw new IllegalArgumentException(
                    "device size must be a positive multiple of the block size " + blockSize + ", not " + size);
        }
    }
}
