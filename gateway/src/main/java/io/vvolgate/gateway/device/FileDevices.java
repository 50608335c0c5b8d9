package io.vvolgate.gateway.device;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Opens image files and kernel block devices as {@link BlockDevice}s with the backend chosen for the process:
 * {@link IoUringBlockDevice} (io_uring, {@code O_DIRECT}) by default, or the blocking {@link FileBlockDevice}.
 * When io_uring cannot be used (a kernel without it, a seccomp profile that forbids it, a container runtime
 * that blocks it) the device falls back to {@link FileBlockDevice} and the reason is logged once per device.
 *
 * <p>The choice is the system property {@value #PROPERTY} ({@code io_uring} or {@code blocking}); {@code serve}
 * sets it from the config key {@code file_io} (control/CONFIG.md).
 */
public final class FileDevices {
    private static final System.Logger LOG = System.getLogger("vvolgate.device");

    /** System property naming the file backend: {@code io_uring} (default) or {@code blocking}. */
    public static final String PROPERTY = "vvolgate.file_io";

    /** The backends a file or block device can have. */
    public enum Backend {
        /** {@link IoUringBlockDevice}, falling back to {@link FileBlockDevice} with a logged reason. */
        IO_URING,
        /** {@link FileBlockDevice}: positional reads and writes on the calling thread. */
        BLOCKING;

        /** {@code io_uring} or {@code blocking}, as the config and the property spell it. */
        public static Backend parse(String name) {
            return switch (name.trim().toLowerCase(Locale.ROOT)) {
                case "io_uring" -> IO_URING;
                case "blocking" -> BLOCKING;
                default -> throw new IllegalArgumentException("file I/O backend must be io_uring or blocking, not '" + name + "'");
            };
        }

        public String configName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private FileDevices() {
    }

    /** The backend {@value #PROPERTY} names, or io_uring. */
    public static Backend configured() {
        return Backend.parse(System.getProperty(PROPERTY, "io_uring"));
    }

    /** {@link #open(Backend, Path, long, int)} with {@link #configured()}. */
    public static BlockDevice open(Path path, long size, int blockSize) throws IOException {
        return open(configured(), path, size, blockSize);
    }

    /**
     * Opens {@code path} as {@link FileBlockDevice#open} describes (a missing image is created sparse, an existing
     * one must have {@code size} bytes, a block device must hold at least {@code size}) with {@code backend}.
     */
    public static BlockDevice open(Backend backend, Path path, long size, int blockSize) throws IOException {
        if (backend == Backend.IO_URING) {
            try {
                return IoUringBlockDevice.open(path, size, blockSize);
            } catch (IOException e) {
                if (!ioUringRefused(e)) {
                    throw e; // a problem with the file itself: the blocking backend would hit it too
                }
                LOG.log(System.Logger.Level.WARNING, path + ": io_uring is not available (" + e.getMessage()
                        + "); using blocking file I/O");
            } catch (LinkageError | UnsupportedOperationException e) {
                // No native access (FFM refused) or the bindings cannot load on this platform.
                LOG.log(System.Logger.Level.WARNING, path + ": io_uring cannot be used (" + e
                        + "); using blocking file I/O");
            }
        }
        return FileBlockDevice.open(path, size, blockSize);
    }

    /** True if the failure is io_uring's (setup, mapping, eventfd), not the file's. */
    private static boolean ioUringRefused(IOException e) {
        String m = String.valueOf(e.getMessage());
        return m.startsWith("io_uring_setup") || m.startsWith("mmap of the io_uring") || m.startsWith("eventfd");
    }
}
