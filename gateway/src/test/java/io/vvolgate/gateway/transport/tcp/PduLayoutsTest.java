package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Writer → reader round trips for every PDU layout, and spec/Linux byte vectors. */
@ExtendWith(LeakFailingExtension.class)
class PduLayoutsTest {
    final CRC32C crc = new CRC32C();

    /** Host-to-controller PDUs go through the real decoder; the reader sees what the writer wrote. */
    static ByteBuf decodeOne(ByteBuf written) {
        EmbeddedChannel ch = new EmbeddedChannel(new TcpPduDecoder(TcpTransportOptions.defaults()));
        ch.writeInbound(written);
        ByteBuf pdu = ch.readInbound();
        ch.finishAndReleaseAll();
        return pdu;
    }

    @Test
    void icReqRoundTripAndLinuxVector() {
        ByteBuf b = Unpooled.directBuffer();
        IcReqPdu.write(b, 0, 3, IcReqPdu.DIGEST_HEADER | IcReqPdu.DIGEST_DATA, 15);
        ByteBuf pdu = decodeOne(b);
        try {
            assertEquals(PduHeader.TYPE_IC_REQ, PduHeader.type(pdu));
            assertEquals(128, PduHeader.hlen(pdu));
            assertEquals(128, PduHeader.plen(pdu));
            assertEquals(0, IcReqPdu.pfv(pdu));
            assertEquals(3, IcReqPdu.hpda(pdu));
            assertEquals(3, IcReqPdu.digest(pdu));
            assertEquals(15, IcReqPdu.maxR2t(pdu));
        } finally {
            pdu.release();
        }
        // Linux nvme_tcp_init_connection: type 0, hlen 128, plen 128, pfv 0, hpda 0, digest bits, maxr2t 0.
        ByteBuf linux = Unpooled.buffer();
        IcReqPdu.write(linux, 0, 0, IcReqPdu.DIGEST_HEADER, 0);
        byte[] expected = new byte[128];
        expected[2] = (byte) 0x80;
        expected[4] = (byte) 0x80;
        expected[11] = 0x01;
        assertArrayEquals(expected, ByteBufUtil.getBytes(linux));
        linux.release();
    }

    @Test
    void icRespRoundTrip() {
        ByteBuf b = Unpooled.buffer();
        IcRespPdu.write(b, 0, 2, 131072);
        assertEquals(PduHeader.TYPE_IC_RESP, PduHeader.type(b));
        assertEquals(128, b.readableBytes());
        assertEquals(128, PduHeader.plen(b));
        assertEquals(0, IcRespPdu.cpda(b));
        assertEquals(2, IcRespPdu.digest(b));
        assertEquals(131072, IcRespPdu.maxH2CData(b));
        b.release();
    }

    @Test
    void capsuleCmdRoundTripWithDigestsAndInCapsuleData() {
        byte[] sqe = TestHost.connectSqe(0xBEEF);
        ByteBuf b = Unpooled.directBuffer();
        CapsuleCmdPdu.writeHeader(b, Unpooled.wrappedBuffer(sqe), 0, 1024, true, true, 4, crc);
        int dataStart = b.writerIndex();
        b.writeBytes(FakeTarget.pattern(0, 1024));
        b.writeIntLE(PduHeader.crc32c(crc, b, dataStart, 1024));
        ByteBuf pdu = decodeOne(b);
        try {
            assertEquals(PduHeader.TYPE_CAPSULE_CMD, PduHeader.type(pdu));
            assertEquals(PduHeader.FLAG_HDGSTF | PduHeader.FLAG_DDGSTF, PduHeader.flags(pdu));
            assertEquals(72, PduHeader.hlen(pdu));
            assertEquals(76, PduHeader.pdo(pdu));
            assertEquals(76 + 1024 + 4, PduHeader.plen(pdu));
            assertEquals(PduHeader.crc32c(crc, pdu, 0, 72), pdu.getIntLE(72));
            byte[] gotSqe = new byte[64];
            pdu.getBytes(CapsuleCmdPdu.SQE_OFFSET, gotSqe);
            assertArrayEquals(sqe, gotSqe);
            assertEquals(0xBEEF, pdu.getUnsignedShortLE(CapsuleCmdPdu.SQE_OFFSET + CapsuleCmdPdu.SQE_CID_OFFSET));
        } finally {
            pdu.release();
        }
    }

    @Test
    void capsuleRespRoundTrip() {
        ByteBuf b = Unpooled.buffer();
        CapsuleRespPdu.write(b, 0xCAFEBABE, 0x01020304, 17, 3, 0x4321, 0x4002, true, crc);
        assertEquals(28, b.readableBytes());
        assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(b));
        assertEquals(0xCAFEBABE, CapsuleRespPdu.result0(b));
        assertEquals(0x01020304, CapsuleRespPdu.result1(b));
        assertEquals(17, CapsuleRespPdu.sqHead(b));
        assertEquals(3, CapsuleRespPdu.sqId(b));
        assertEquals(0x4321, CapsuleRespPdu.cid(b));
        assertEquals(0x4002, CapsuleRespPdu.status(b));
        // CQE DW3 = CID | phase 0 | status << 17
        assertEquals(0x4321 | (0x4002 << 17), b.getIntLE(20));
        assertEquals(PduHeader.crc32c(crc, b, 0, 24), b.getIntLE(24));
        b.release();
    }

    @Test
    void h2cDataRoundTrip() {
        ByteBuf b = Unpooled.directBuffer();
        H2CDataPdu.writeHeader(b, PduHeader.FLAG_LAST_PDU, 7, 9, 4096, 512, 24, false, false, crc);
        b.writeBytes(new byte[512]);
        ByteBuf pdu = decodeOne(b);
        try {
            assertEquals(PduHeader.TYPE_H2C_DATA, PduHeader.type(pdu));
            assertEquals(PduHeader.FLAG_LAST_PDU, PduHeader.flags(pdu));
            assertEquals(7, H2CDataPdu.cccid(pdu));
            assertEquals(9, H2CDataPdu.ttag(pdu));
            assertEquals(4096, H2CDataPdu.dataOffset(pdu));
            assertEquals(512, H2CDataPdu.dataLength(pdu));
            assertEquals(24 + 512, PduHeader.plen(pdu));
        } finally {
            pdu.release();
        }
    }

    @Test
    void c2hDataRoundTripWithPadding() {
        ByteBuf b = Unpooled.buffer();
        int pdo = PduHeader.dataOffset(24, true, 16);
        C2HDataPdu.writeHeader(b, PduHeader.FLAG_LAST_PDU | PduHeader.FLAG_SUCCESS, 5, 0, 0, 100, pdo, true, true, crc);
        assertEquals(32, pdo);
        assertEquals(32, b.readableBytes());
        assertEquals(PduHeader.TYPE_C2H_DATA, PduHeader.type(b));
        assertEquals(PduHeader.FLAG_HDGSTF | PduHeader.FLAG_DDGSTF | PduHeader.FLAG_LAST_PDU | PduHeader.FLAG_SUCCESS,
                PduHeader.flags(b));
        assertEquals(32 + 100 + 4, PduHeader.plen(b));
        assertEquals(5, C2HDataPdu.cccid(b));
        assertEquals(100, C2HDataPdu.dataLength(b));
        b.release();
    }

    @Test
    void r2tRoundTrip() {
        ByteBuf b = Unpooled.buffer();
        R2tPdu.write(b, 11, 12, 131072, 65536, false, crc);
        assertEquals(24, b.readableBytes());
        assertEquals(PduHeader.TYPE_R2T, PduHeader.type(b));
        assertEquals(0, PduHeader.pdo(b));
        assertEquals(11, R2tPdu.cccid(b));
        assertEquals(12, R2tPdu.ttag(b));
        assertEquals(131072, R2tPdu.offset(b));
        assertEquals(65536, R2tPdu.length(b));
        b.release();
    }

    @Test
    void termReqRoundTrip() {
        ByteBuf offending = Unpooled.buffer();
        IcReqPdu.write(offending, 1, 0, 0, 0);
        ByteBuf b = Unpooled.directBuffer();
        TermReqPdu.write(b, PduHeader.TYPE_H2C_TERM_REQ, PduHeader.FES_UNSUPPORTED_PARAMETER, 8, offending, 0, 128);
        ByteBuf pdu = decodeOne(b);
        try {
            assertEquals(PduHeader.TYPE_H2C_TERM_REQ, PduHeader.type(pdu));
            assertEquals(TermReqPdu.MAX_LENGTH, PduHeader.plen(pdu));
            assertEquals(PduHeader.FES_UNSUPPORTED_PARAMETER, TermReqPdu.fes(pdu));
            assertEquals(8, TermReqPdu.fei(pdu));
            assertTrue(ByteBufUtil.equals(offending, 0, pdu, 24, 128));
        } finally {
            pdu.release();
            offending.release();
        }
    }

    @Test
    void crc32cMatchesTheStandardCheckValue() {
        ByteBuf b = Unpooled.copiedBuffer("123456789", java.nio.charset.StandardCharsets.US_ASCII);
        assertEquals(0xE3069283, PduHeader.crc32c(crc, b, 0, 9));
        b.release();
    }
}
