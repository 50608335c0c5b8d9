package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The host side of a test: builds the PDUs a host sends (as a Linux host builds them) and parses the byte
 * stream the target wrote, PDU by PDU, as the host would see it on the wire. Parsed PDUs are unpooled heap
 * wrappers, so they need no release.
 */
final class TestHost {
    final CRC32C crc = new CRC32C();
    boolean headerDigest;
    boolean dataDigest;
    private byte[] stream = new byte[0];
    private int position;

    TestHost() {
    }

    TestHost(boolean headerDigest, boolean dataDigest) {
        this.headerDigest = headerDigest;
        this.dataDigest = dataDigest;
    }

    static ByteBuf icReq(int pfv, int hpda, int digest, int maxR2t) {
        ByteBuf b = Unpooled.directBuffer(128);
        IcReqPdu.write(b, pfv, hpda, digest, maxR2t);
        return b;
    }

    ByteBuf icReq() {
        return icReq(0, 0, (headerDigest ? 1 : 0) | (dataDigest ? 2 : 0), 0);
    }

    /** An SQE: opcode, cid, nsid, SGL1 (address, length, type) and CDW10..11. */
    static byte[] sqe(int opcode, int cid, int sglLength, int sglType) {
        ByteBuf b = Unpooled.wrappedBuffer(new byte[64]).clear();
        b.setByte(0, opcode);
        b.setShortLE(2, cid);
        b.setIntLE(4, 1);
        b.setIntLE(32, sglLength);
        b.setByte(39, sglType);
        return b.array();
    }

    static byte[] connectSqe(int cid) {
        byte[] sqe = sqe(0x7F, cid, 1024, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET);
        sqe[4] = 0x01; // FCTYPE Connect
        return sqe;
    }

    ByteBuf capsule(byte[] sqe, byte[] data) {
        ByteBuf b = Unpooled.directBuffer();
        int length = data == null ? 0 : data.length;
        CapsuleCmdPdu.writeHeader(b, Unpooled.wrappedBuffer(sqe), 0, length, headerDigest, dataDigest, 4, crc);
        if (length > 0) {
            int start = b.writerIndex();
            b.writeBytes(data);
            if (dataDigest) {
                b.writeIntLE(PduHeader.crc32c(crc, b, start, length));
            }
        }
        return b;
    }

    ByteBuf h2cData(int cccid, int ttag, int offset, byte[] data, boolean last) {
        ByteBuf b = Unpooled.directBuffer();
        int pdo = PduHeader.dataOffset(H2CDataPdu.HEADER_LENGTH, headerDigest, 4);
        H2CDataPdu.writeHeader(b, last ? PduHeader.FLAG_LAST_PDU : 0, cccid, ttag, offset, data.length, pdo,
                headerDigest, dataDigest, crc);
        int start = b.writerIndex();
        b.writeBytes(data);
        if (dataDigest) {
            b.writeIntLE(PduHeader.crc32c(crc, b, start, data.length));
        }
        return b;
    }

    static ByteBuf h2cTermReq(int fes) {
        ByteBuf b = Unpooled.directBuffer();
        TermReqPdu.write(b, PduHeader.TYPE_H2C_TERM_REQ, fes, 0, Unpooled.EMPTY_BUFFER, 0, 0);
        return b;
    }

    /** Takes every buffer the target wrote, in order, onto the host's receive stream. */
    TestHost receive(EmbeddedChannel channel) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(stream, position, stream.length - position);
        Object msg;
        while ((msg = channel.readOutbound()) != null) {
            ByteBuf b = (ByteBuf) msg;
            try {
                byte[] bytes = new byte[b.readableBytes()];
                b.getBytes(b.readerIndex(), bytes);
                out.writeBytes(bytes);
            } finally {
                b.release();
            }
        }
        stream = out.toByteArray();
        position = 0;
        return this;
    }

    /** Appends raw bytes received from a socket. */
    void receive(byte[] bytes) {
        byte[] merged = Arrays.copyOfRange(stream, position, stream.length + bytes.length - 0);
        System.arraycopy(bytes, 0, merged, stream.length - position, bytes.length);
        stream = merged;
        position = 0;
    }

    /** The next whole PDU the host received, or null. */
    ByteBuf next() {
        if (stream.length - position < 8) {
            return null;
        }
        int plen = (stream[position + 4] & 0xff) | (stream[position + 5] & 0xff) << 8
                | (stream[position + 6] & 0xff) << 16 | (stream[position + 7] & 0xff) << 24;
        if (stream.length - position < plen) {
            return null;
        }
        ByteBuf pdu = Unpooled.wrappedBuffer(Arrays.copyOfRange(stream, position, position + plen));
        position += plen;
        return pdu;
    }

    int pending() {
        return stream.length - position;
    }

    /** Checks the header digest of a received PDU (if enabled) and returns true if it matches. */
    boolean headerDigestOk(ByteBuf pdu) {
        int hlen = PduHeader.hlen(pdu);
        return pdu.getIntLE(hlen) == PduHeader.crc32c(crc, pdu, 0, hlen);
    }

    /** The data of a received C2HData PDU, checking its data digest if enabled. */
    byte[] c2hData(ByteBuf pdu) {
        int pdo = PduHeader.pdo(pdu);
        int length = (int) C2HDataPdu.dataLength(pdu);
        byte[] data = new byte[length];
        pdu.getBytes(pdo, data);
        if (dataDigest && pdu.getIntLE(pdo + length) != PduHeader.crc32c(crc, pdu, pdo, length)) {
            throw new AssertionError("bad data digest in C2HData");
        }
        return data;
    }
}
