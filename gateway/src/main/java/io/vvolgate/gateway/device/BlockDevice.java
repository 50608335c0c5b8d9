package io.vvolgate.gateway.device;

import io.netty.buffer.ByteBuf;

/**
 * A physical device the target stores data on: an SSD namespace, a file, a block device or memory.
 * Addresses and lengths are in bytes and are multiples of {@link #blockSize()}.
 *
 * <p>The interface is asynchronous so that devices with their own completion threads (io_uring, SPDK)
 * fit: each operation is submitted with a completion handler and an attachment, and the handler is
 * called exactly once, maybe on the submitting thread before the call returns, maybe on a device
 * thread. Handlers should be non-capturing (one instance, state in the attachment), so that submitting
 * allocates nothing.
 *
 * <p>A device may be called from several threads at once; implementations say how they order requests.
 * Nothing here promises ordering between concurrent requests: whoever needs it (e.g. fused
 * compare-and-write) orders them above the device.
 */
public interface BlockDevice extends AutoCloseable {

    /** Capacity in bytes. */
    long size();

    /** The smallest unit of I/O in bytes (512 or 4096). */
    int blockSize();

    /** True if completed writes may sit in a volatile cache until {@link #flush}. */
    boolean volatileWriteCache();

    /**
     * Reads {@code length} bytes at {@code offset} into {@code dst}, writing from dst's writerIndex on; on
     * success dst's writerIndex has advanced by {@code length}.
     */
    <A> void read(long offset, int length, ByteBuf dst, A attachment, IoCompletion<A> completion);

    /**
     * Writes the {@code length} readable bytes of {@code src} from its readerIndex (indices unchanged) at
     * {@code offset}. With {@code fua} the data is durable when the completion reports success.
     */
    <A> void write(long offset, int length, ByteBuf src, boolean fua, A attachment, IoCompletion<A> completion);

    /** Writes zeroes; the device may deallocate instead when that reads back as zeroes. */
    <A> void writeZeroes(long offset, long length, boolean fua, A attachment, IoCompletion<A> completion);

    /** Deallocates (unmaps / punches a hole); reads of the range then return zeroes. */
    <A> void deallocate(long offset, long length, A attachment, IoCompletion<A> completion);

    /** Makes every write completed before this call durable. */
    <A> void flush(A attachment, IoCompletion<A> completion);

    /**
     * True if every operation completes, handler called, on the calling thread before the call returns, and
     * any thread may call at once (a memory device). The target then runs reads and writes on the thread that
     * received them, without handing them to a device reactor. False by default: a device with its own
     * completion threads (io_uring, SPDK) or one that blocks must not say true.
     */
    default boolean completesInline() {
        return false;
    }

    /** True if writes are refused (a snapshot): Identify Namespace then says the namespace is write protected. */
    default boolean readOnly() {
        return false;
    }

    /** Health figures for the SMART / Health log page; a device without them returns {@link DeviceHealth#UNKNOWN}. */
    DeviceHealth health();

    /** Syncs and releases the device. Called after all I/O has completed. */
    @Override
    void close();
}
