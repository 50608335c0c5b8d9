package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A device on a regular file (an image) or a kernel block device, through {@link FileChannel} positional
 * I/O. The channel is the only state; {@code pread}/{@code pwrite} need no lock, so any thread may call
 * any operation and calls on different ranges run in parallel. Every operation completes on the calling
 * thread before the call returns: the core calls it from its own I/O threads. The io_uring backend that
 * completes on a device thread comes in a later issue.
 *
 * <p>Durability: writes land in the OS page cache, so {@link #volatileWriteCache()} is true; FUA and
 * {@link #flush} call {@code fdatasync} ({@link FileChannel#force force(false)}).
 *
 * <p>Zeroes: without {@code fallocate(PUNCH_HOLE | ZERO_RANGE)} (FFM bindings come in a later issue)
 * {@link #deallocate} and {@link #writeZeroes} write zeroes from a shared zero buffer, {@value #ZERO_CHUNK}
 * bytes at a time: correct (the range reads back as zeroes) but as slow as a write, and a file does not
 * become sparse again.
 *
 * <p>Interrupts: a {@code FileChannel} is closed by the JDK when a thread blocked in it is interrupted.
 * The core never interrupts its I/O threads; if something does, later operations complete with
 * {@link IoCompletion#EIO} and the namespace must be reopened.
 */
public final class FileBlockDevice implements BlockDevice {

    static final int ZERO_CHUNK = 1 << 20;
    /** Read only by the channel; each use takes its own view, so sharing it between threads is safe. */
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private static final int S_IFMT = 0170000;
    private static final int S_IFBLK = 0060000;

    private final Path path;
    private final FileChannel channel;
    private final long size;
    private final int blockSize;
    /** Opened by {@link #openReadOnly}: the channel cannot write, and nothing asks it to. */
    private final boolean readOnly;

    private FileBlockDevice(Path path, FileChannel channel, long size, int blockSize, boolean readOnly) {
        this.path = path;
        this.channel = channel;
        this.size = size;
        this.blockSize = blockSize;
        this.readOnly = readOnly;
    }

    /**
     * Opens the image at {@code path}, creating it sparse at {@code size} bytes if it does not exist.
     *
     * <ul>
     *   <li>A missing file is created (the parent directory must exist), sized, and synced together with
     *       its directory, so that it is still there after a crash.</li>
     *   <li>An existing regular file must be exactly {@code size} bytes; growing or shrinking is a later
     *       feature, and guessing would corrupt a volume. An empty file (left by a creation that crashed
     *       before it was sized) holds no data and is sized.</li>
     *   <li>A block device must hold at least {@code size} bytes; the namespace covers the first
     *       {@code size} of them. Its capacity comes from the kernel ({@code BLKGETSIZE64} behind
     *       {@link FileChannel#size()}, else {@code /sys/dev/block/MAJ:MIN/size}).</li>
     * </ul>
     *
     * @throws IOException with a message naming the file and the problem, meant for an operator
     */
    public static FileBlockDevice open(Path path, long size, int blockSize) throws IOException {
        DeviceRange.requireGeometry(size, blockSize);
        if (isBlockDevice(path)) {
            return openBlockDevice(path, size, blockSize);
        }
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(path)) {
            throw new IOException(path + " is neither a regular file nor a block device");
        }
        boolean created = false;
        try {
            Files.createFile(path);
            created = true;
        } catch (FileAlreadyExistsException e) {
            // Opened below and checked.
        } catch (NoSuchFileException e) {
            throw new IOException("cannot create " + path + ": directory " + path.getParent() + " does not exist");
        }
        @SuppressWarnings("resource") // owned by the device, closed in close()
        RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw");
        FileChannel channel = file.getChannel();
        try {
            long actual = channel.size();
            if (actual == 0) {
                file.setLength(size); // ftruncate: sparse, costs no space until written
                channel.force(true);
            } else if (actual != size) {
                throw new IOException(path + " holds " + actual + " bytes but the namespace is " + size
                        + " bytes; resizing an image is not supported yet (restore the size or use a new file)");
            }
            if (created) {
                syncDirectory(path.toAbsolutePath().getParent());
            }
            return new FileBlockDevice(path, channel, size, blockSize, false);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static FileBlockDevice openBlockDevice(Path path, long size, int blockSize) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long capacity = channel.size();
            if (capacity == 0) {
                capacity = sysfsCapacity(path);
            }
            if (capacity < size) {
                throw new IOException("block device " + path + " holds " + capacity + " bytes, less than the "
                        + size + " bytes of the namespace");
            }
            return new FileBlockDevice(path, channel, size, blockSize, false);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /**
     * Opens an existing image or block device to look at, never to change (fsck): the file is opened for
     * reading only, so not even a bug above can write it; writes, write-zeroes and deallocates complete
     * with {@link IoCompletion#EROFS}, flush does nothing and close syncs nothing. The size is the file's
     * (or the block device's capacity), rounded down to {@code blockSize}.
     *
     * @throws IOException if it does not exist, is empty, or is neither a regular file nor a block device
     */
    public static FileBlockDevice openReadOnly(Path path, int blockSize) throws IOException {
        boolean block = isBlockDevice(path);
        if (!block && !Files.isRegularFile(path)) {
            throw new IOException(path + (Files.exists(path) ? " is neither a regular file nor a block device" : " does not exist"));
        }
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long capacity = channel.size();
            if (capacity == 0 && block) {
                capacity = sysfsCapacity(path);
            }
            long size = capacity / blockSize * blockSize;
            DeviceRange.requireGeometry(Math.max(size, blockSize), blockSize);
            if (size == 0) {
                throw new IOException(path + " is empty");
            }
            return new FileBlockDevice(path, channel, size, blockSize, true);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static boolean isBlockDevice(Path path) throws IOException {
        if (!Files.exists(path)) {
            return false;
        }
        Object mode = Files.getAttribute(path, "unix:mode");
        return mode instanceof Integer m && (m & S_IFMT) == S_IFBLK;
    }

    /** {@code /sys/dev/block/MAJ:MIN/size} is the capacity in 512-byte sectors, whatever the LBA size. */
    private static long sysfsCapacity(Path path) throws IOException {
        long rdev = ((Number) Files.getAttribute(path, "unix:rdev")).longValue();
        long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
        long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
        Path sectors = Path.of("/sys/dev/block", major + ":" + minor, "size");
        try {
            return Long.parseLong(Files.readString(sectors).trim()) * 512;
        } catch (IOException | NumberFormatException e) {
            throw new IOException("cannot tell the capacity of block device " + path, e);
        }
    }

    private static void syncDirectory(Path dir) throws IOException {
        if (dir == null) {
            return;
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    public Path path() {
        return path;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public boolean volatileWriteCache() {
        return true;
    }

    @Override
    public <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, doRead(offset, length, dst));
    }

    private int doRead(long offset, int length, ByteBuf dst) {
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno != IoCompletion.OK) {
            return errno;
        }
        try {
            dst.ensureWritable(length);
            int base = dst.writerIndex();
            // A composite buffer's nioBuffer(index, length) may be a merged copy; nioBuffers() are views.
            if (dst.nioBufferCount() == 1) {
                readFully(dst.nioBuffer(base, length), offset);
            } else {
                long at = offset;
                for (ByteBuffer part : dst.nioBuffers(base, length)) {
                    int n = part.remaining();
                    readFully(part, at);
                    at += n;
                }
            }
            dst.writerIndex(base + length);
            return IoCompletion.OK;
        } catch (IOException | RuntimeException e) {
            // RuntimeException: a buffer too small or already released, a bug above us; reported, not thrown.
            return IoCompletion.EIO;
        }
    }

    private void readFully(ByteBuffer into, long at) throws IOException {
        long position = at;
        while (into.hasRemaining()) {
            int n = channel.read(into, position);
            if (n < 0) {
                throw new IOException(path + " ended at " + position + ": truncated behind our back");
            }
            position += n;
        }
    }

    @Override
    public <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment,
                          IoCompletion<A> completion) {
        completion.completed(attachment, doWrite(offset, length, src, fua));
    }

    private int doWrite(long offset, int length, ByteBuf src, boolean fua) {
        if (readOnly) {
            return IoCompletion.EROFS;
        }
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno != IoCompletion.OK) {
            return errno;
        }
        if (src.readableBytes() < length) {
            return IoCompletion.EIO;
        }
        try {
            int base = src.readerIndex();
            if (src.nioBufferCount() == 1) {
                writeFully(src.nioBuffer(base, length), offset);
            } else {
                long at = offset;
                for (ByteBuffer part : src.nioBuffers(base, length)) {
                    int n = part.remaining();
                    writeFully(part, at);
                    at += n;
                }
            }
            if (fua) {
                channel.force(false);
            }
            return IoCompletion.OK;
        } catch (IOException | RuntimeException e) {
            // RuntimeException: a buffer too small or already released, a bug above us; reported, not thrown.
            return IoCompletion.EIO;
        }
    }

    private void writeFully(ByteBuffer from, long at) throws IOException {
        long position = at;
        while (from.hasRemaining()) {
            position += channel.write(from, position);
        }
    }

    @Override
    public <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, doZero(offset, length, fua));
    }

    @Override
    public <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion) {
        completion.completed(attachment, doZero(offset, length, false));
    }

    private int doZero(long offset, long length, boolean fua) {
        if (readOnly) {
            return IoCompletion.EROFS;
        }
        int errno = DeviceRange.check(offset, length, size, blockSize);
        if (errno != IoCompletion.OK) {
            return errno;
        }
        try {
            long done = 0;
            while (done < length) {
                int piece = (int) Math.min(ZERO_CHUNK, length - done);
                writeFully(ZEROES.slice(0, piece), offset + done);
                done += piece;
            }
            if (fua) {
                channel.force(false);
            }
            return IoCompletion.OK;
        } catch (IOException e) {
            return IoCompletion.EIO;
        }
    }

    @Override
    public <A> void flush(A attachment, IoCompletion<A> completion) {
        int errno;
        try {
            if (!readOnly) {
                channel.force(false); // nothing was written through a read-only one
            }
            errno = IoCompletion.OK;
        } catch (IOException e) {
            errno = IoCompletion.EIO;
        }
        completion.completed(attachment, errno);
    }

    @Override
    public DeviceHealth health() {
        return DeviceHealth.UNKNOWN;
    }

    /** Syncs data and metadata, then closes the channel. Errors are swallowed: nothing is left to tell. */
    @Override
    public void close() {
        try {
            if (channel.isOpen() && !readOnly) {
                channel.force(true);
            }
        } catch (IOException e) {
            // The host was told about durability at its last Flush; a failure here changes nothing it relied on.
        } finally {
            try {
                channel.close();
            } catch (IOException e) {
                // Nothing to do.
            }
        }
    }
}
