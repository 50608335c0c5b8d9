package io.vvolgate.gateway.host;

import io.vvolgate.gateway.nvme.ConnectData;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Sqe;
import io.vvolgate.gateway.transport.tcp.PduHeader;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

/**
 * One NVMe/TCP queue as a host sees it: a TCP connection, the ICReq/ICResp exchange, then commands with
 * their data (in-capsule, or H2CData after an R2T; C2HData for reads) and their completions. Several
 * commands may be outstanding; a reader thread matches completions to them by CID.
 *
 * <p>This is the host library's simple, blocking-socket form, for tests and tools; it is not the hot
 * path. Thread-safe: {@link #submit} may be called from several threads.
 */
public final class NvmeTcpQueue implements AutoCloseable {

    /** What came back for one command: the CQE fields, and the C2H data for a read-type command. */
    public record Completion(int status, int result0, int result1, int sqHead, byte[] data) {
        public boolean ok() {
            return (status & 0x7FF) == 0;
        }
    }

    /** What the controller offered in ICResp. */
    public record Negotiated(int maxH2CData, boolean headerDigest, boolean dataDigest, int cpda) {
    }

    private static final int IN_CAPSULE_LIMIT_DEFAULT = 8192;

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private final Object writeLock = new Object();
    private final Negotiated negotiated;
    private final Map<Integer, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicInteger nextCid = new AtomicInteger(1);
    private final Thread reader;
    private volatile int inCapsuleLimit = IN_CAPSULE_LIMIT_DEFAULT;
    private volatile Throwable failure;
    /** The last C2HTermReq the controller sent: FES in the high half, FEI in the low. */
    private volatile long termReq = -1;

    private static final class Pending {
        final CompletableFuture<Completion> future = new CompletableFuture<>();
        final byte[] h2c;
        final byte[] c2h;
        int c2hReceived;

        Pending(byte[] h2c, int c2hLength) {
            this.h2c = h2c;
            this.c2h = c2hLength > 0 ? new byte[c2hLength] : null;
        }
    }

    private NvmeTcpQueue(Socket socket, Negotiated negotiated, DataInputStream in, OutputStream out) {
        this.socket = socket;
        this.negotiated = negotiated;
        this.in = in;
        this.out = out;
        this.reader = new Thread(this::readLoop, "nvme-tcp-host-" + socket.getLocalPort());
        this.reader.setDaemon(true);
        this.reader.start();
    }

    /** Opens the connection and exchanges ICReq/ICResp. */
    public static NvmeTcpQueue open(String host, int port, boolean headerDigest, boolean dataDigest) throws IOException {
        Socket s = new Socket();
        s.setTcpNoDelay(true);
        s.connect(new InetSocketAddress(host, port), 5000);
        s.setSoTimeout(0);
        DataInputStream in = new DataInputStream(s.getInputStream());
        OutputStream out = new BufferedOutputStream(s.getOutputStream(), 256 * 1024);
        ByteBuffer icreq = le(128);
        icreq.put((byte) PduHeader.TYPE_IC_REQ).put((byte) 0).put((byte) 128).put((byte) 0).putInt(128);
        icreq.putShort((short) 0);        // PFV
        icreq.put((byte) 0);              // HPDA
        icreq.put((byte) ((headerDigest ? 1 : 0) | (dataDigest ? 2 : 0)));
        icreq.putInt(15);                 // MAXR2T (0's based): up to 16 outstanding
        out.write(icreq.array());
        out.flush();
        byte[] resp = new byte[128];
        in.readFully(resp);
        ByteBuffer r = ByteBuffer.wrap(resp).order(ByteOrder.LITTLE_ENDIAN);
        if (resp[0] != PduHeader.TYPE_IC_RESP) {
            s.close();
            throw new IOException("expected ICResp, got PDU type " + resp[0]);
        }
        int digests = resp[11];
        Negotiated n = new Negotiated(r.getInt(12), (digests & 1) != 0, (digests & 2) != 0, resp[10]);
        return new NvmeTcpQueue(s, n, in, out);
    }

    public Negotiated negotiated() {
        return negotiated;
    }

    /** The in-capsule data limit to use for writes (64-byte SQE excluded), from IOCCSZ. */
    public void setInCapsuleLimit(int bytes) {
        this.inCapsuleLimit = bytes;
    }

    /** FES and FEI of the C2HTermReq received, or -1. */
    public long termReq() {
        return termReq;
    }

    public boolean isOpen() {
        return !socket.isClosed() && failure == null;
    }

    // --- commands ---

    /** A 64-byte SQE with {@code opcode} and {@code nsid}; the CID is filled in on submission. */
    public static ByteBuffer sqe(int opcode, int nsid) {
        ByteBuffer b = le(64);
        b.put(Sqe.OPCODE_OFFSET, (byte) opcode);
        b.putInt(Sqe.NSID_OFFSET, nsid);
        return b;
    }

    /**
     * Sends a command. {@code h2c} is its data to the controller (null if none); {@code c2hLength} the
     * data it will return (0 if none).
     */
    public CompletableFuture<Completion> submit(ByteBuffer sqe, byte[] h2c, int c2hLength) {
        int cid = nextCid.getAndUpdate(c -> c >= 0xFFFE ? 1 : c + 1);
        Pending p = new Pending(h2c, c2hLength);
        pending.put(cid, p);
        Throwable failed = failure;
        if (failed != null) {
            // The connection is gone; the reader thread will not answer this one.
            pending.remove(cid);
            p.future.completeExceptionally(new IOException("the connection is closed", failed));
            return p.future;
        }
        sqe.putShort(Sqe.CID_OFFSET, (short) cid);
        int dataLength = h2c != null ? h2c.length : c2hLength;
        boolean inCapsule = h2c != null && h2c.length <= inCapsuleLimit;
        sqe.put(Sqe.SGL1_TYPE_OFFSET, (byte) (inCapsule ? 0x01 : 0x5A));
        sqe.putLong(Sqe.SGL1_ADDRESS_OFFSET, 0);
        sqe.putInt(Sqe.SGL1_LENGTH_OFFSET, dataLength);
        try {
            int hlen = 72;
            int inData = inCapsule ? h2c.length : 0;
            int hd = negotiated.headerDigest ? 4 : 0;
            int dd = negotiated.dataDigest && inData > 0 ? 4 : 0;
            int pdo = inData > 0 ? hlen + hd : 0;
            int plen = hlen + hd + inData + dd;
            ByteBuffer pdu = le(plen);
            pdu.put((byte) PduHeader.TYPE_CAPSULE_CMD)
                    .put((byte) ((hd > 0 ? PduHeader.FLAG_HDGSTF : 0) | (dd > 0 ? PduHeader.FLAG_DDGSTF : 0)))
                    .put((byte) hlen).put((byte) pdo).putInt(plen);
            pdu.put(sqe.array(), 0, 64);
            if (hd > 0) {
                pdu.putInt(crc(pdu.array(), 0, hlen));
            }
            if (inData > 0) {
                pdu.put(h2c);
                if (dd > 0) {
                    pdu.putInt(crc(h2c, 0, h2c.length));
                }
            }
            send(pdu.array());
        } catch (IOException e) {
            pending.remove(cid);
            p.future.completeExceptionally(e);
        }
        return p.future;
    }

    /** Submits and waits up to 30 s. */
    public Completion execute(ByteBuffer sqe, byte[] h2c, int c2hLength) throws IOException {
        try {
            return submit(sqe, h2c, c2hLength).get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("no completion within 30 s", e);
        }
    }

    /** Fabrics Connect: QID 0 creates a controller (CNTLID FFFFh), other QIDs join {@code cntlid}. */
    public Completion connect(String subNqn, String hostNqn, UUID hostId, int qid, int queueSize, int cntlid, int katoMs)
            throws IOException {
        ByteBuffer c = sqe(Opcodes.FABRICS, 0);
        c.put(Sqe.FCTYPE_OFFSET, (byte) Opcodes.FCTYPE_CONNECT);
        c.putShort(Sqe.CONNECT_QID_OFFSET, (short) qid);
        c.putShort(Sqe.CONNECT_SQSIZE_OFFSET, (short) (queueSize - 1));
        c.putInt(Sqe.CONNECT_KATO_OFFSET, katoMs);
        ByteBuffer data = ByteBuffer.allocate(ConnectData.SIZE);
        data.putLong(ConnectData.HOSTID_OFFSET, hostId.getMostSignificantBits());
        data.putLong(ConnectData.HOSTID_OFFSET + 8, hostId.getLeastSignificantBits());
        data.order(ByteOrder.LITTLE_ENDIAN).putShort(ConnectData.CNTLID_OFFSET, (short) cntlid);
        data.put(ConnectData.SUBNQN_OFFSET, subNqn.getBytes(StandardCharsets.UTF_8));
        data.put(ConnectData.HOSTNQN_OFFSET, hostNqn.getBytes(StandardCharsets.UTF_8));
        return execute(c, data.array(), 0);
    }

    public Completion propertyGet(int offset, boolean eightBytes) throws IOException {
        ByteBuffer c = sqe(Opcodes.FABRICS, 0);
        c.put(Sqe.FCTYPE_OFFSET, (byte) Opcodes.FCTYPE_PROPERTY_GET);
        c.put(Sqe.PROPERTY_ATTRIB_OFFSET, (byte) (eightBytes ? 1 : 0));
        c.putInt(Sqe.PROPERTY_OFST_OFFSET, offset);
        return execute(c, null, 0);
    }

    public Completion propertySet(int offset, long value) throws IOException {
        ByteBuffer c = sqe(Opcodes.FABRICS, 0);
        c.put(Sqe.FCTYPE_OFFSET, (byte) Opcodes.FCTYPE_PROPERTY_SET);
        c.putInt(Sqe.PROPERTY_OFST_OFFSET, offset);
        c.putLong(Sqe.PROPERTY_VALUE_OFFSET, value);
        return execute(c, null, 0);
    }

    /** Sends raw bytes as they are (for tests of malformed input). */
    public void sendRaw(byte[] bytes) throws IOException {
        send(bytes);
    }

    private void send(byte[] bytes) throws IOException {
        synchronized (writeLock) {
            out.write(bytes);
            out.flush();
        }
    }

    // --- receiving ---

    private void readLoop() {
        try {
            byte[] ch = new byte[8];
            while (true) {
                in.readFully(ch);
                int type = ch[0] & 0xFF;
                int flags = ch[1] & 0xFF;
                int hlen = ch[2] & 0xFF;
                int pdo = ch[3] & 0xFF;
                long plen = ByteBuffer.wrap(ch).order(ByteOrder.LITTLE_ENDIAN).getInt(4) & 0xFFFFFFFFL;
                if (plen < hlen || plen > (16 << 20)) {
                    throw new IOException("bad PLEN " + plen);
                }
                byte[] pdu = new byte[(int) plen];
                System.arraycopy(ch, 0, pdu, 0, 8);
                in.readFully(pdu, 8, pdu.length - 8);
                ByteBuffer b = ByteBuffer.wrap(pdu).order(ByteOrder.LITTLE_ENDIAN);
                if ((flags & PduHeader.FLAG_HDGSTF) != 0 && b.getInt(hlen) != crc(pdu, 0, hlen)) {
                    throw new IOException("header digest mismatch on PDU type " + type);
                }
                switch (type) {
                    case PduHeader.TYPE_CAPSULE_RESP -> onResponse(b);
                    case PduHeader.TYPE_C2H_DATA -> onC2HData(b, flags, pdo);
                    case PduHeader.TYPE_R2T -> onR2T(b);
                    case PduHeader.TYPE_C2H_TERM_REQ -> {
                        termReq = ((long) (b.getShort(8) & 0xFFFF) << 32) | (b.getInt(10) & 0xFFFFFFFFL);
                        throw new IOException("controller sent C2HTermReq FES " + (b.getShort(8) & 0xFFFF));
                    }
                    default -> throw new IOException("unexpected PDU type " + type);
                }
            }
        } catch (IOException | RuntimeException e) {
            failure = e;
            // A submit that raced with this sees 'failure' after its put, or is failed here.
            for (Pending p : pending.values()) {
                p.future.completeExceptionally(e);
            }
            pending.clear();
        }
    }

    private void onResponse(ByteBuffer b) throws IOException {
        int cid = b.getShort(20) & 0xFFFF;
        int status = (b.getShort(22) & 0xFFFF) >>> 1;
        Pending p = pending.remove(cid);
        if (p == null) {
            throw new IOException("completion for unknown CID " + cid);
        }
        p.future.complete(new Completion(status, b.getInt(8), b.getInt(12), b.getShort(16) & 0xFFFF, p.c2h));
    }

    private void onC2HData(ByteBuffer b, int flags, int pdo) throws IOException {
        int cid = b.getShort(8) & 0xFFFF;
        int offset = b.getInt(12);
        int length = b.getInt(16);
        Pending p = pending.get(cid);
        if (p == null || p.c2h == null || offset + length > p.c2h.length || offset != p.c2hReceived) {
            throw new IOException("unexpected C2HData for CID " + cid + " at " + offset + "+" + length);
        }
        byte[] pdu = b.array();
        if ((flags & PduHeader.FLAG_DDGSTF) != 0 && b.getInt(pdo + length) != crc(pdu, pdo, length)) {
            throw new IOException("data digest mismatch for CID " + cid);
        }
        System.arraycopy(pdu, pdo, p.c2h, offset, length);
        p.c2hReceived += length;
        if ((flags & PduHeader.FLAG_SUCCESS) != 0) {
            pending.remove(cid);
            p.future.complete(new Completion(0, 0, 0, 0, p.c2h));
        }
    }

    private void onR2T(ByteBuffer b) throws IOException {
        int cid = b.getShort(8) & 0xFFFF;
        int ttag = b.getShort(10) & 0xFFFF;
        int offset = b.getInt(12);
        int length = b.getInt(16);
        Pending p = pending.get(cid);
        if (p == null || p.h2c == null || offset + length > p.h2c.length) {
            throw new IOException("unexpected R2T for CID " + cid);
        }
        int max = negotiated.maxH2CData;
        for (int done = 0; done < length; ) {
            int n = Math.min(max, length - done);
            boolean last = done + n == length;
            int hlen = 24;
            int hd = negotiated.headerDigest ? 4 : 0;
            int dd = negotiated.dataDigest ? 4 : 0;
            int pdo = hlen + hd;
            int plen = pdo + n + dd;
            ByteBuffer pdu = le(plen);
            pdu.put((byte) PduHeader.TYPE_H2C_DATA)
                    .put((byte) ((hd > 0 ? PduHeader.FLAG_HDGSTF : 0) | (dd > 0 ? PduHeader.FLAG_DDGSTF : 0) | (last ? PduHeader.FLAG_LAST_PDU : 0)))
                    .put((byte) hlen).put((byte) pdo).putInt(plen);
            pdu.putShort((short) cid).putShort((short) ttag).putInt(offset + done).putInt(n).putInt(0);
            if (hd > 0) {
                pdu.putInt(crc(pdu.array(), 0, hlen));
            }
            pdu.put(p.h2c, offset + done, n);
            if (dd > 0) {
                pdu.putInt(crc(p.h2c, offset + done, n));
            }
            send(pdu.array());
            done += n;
        }
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing: nothing left to do with the error
        }
        try {
            reader.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
