package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

@ExtendWith(LeakFailingExtension.class)
class TcpPduDecoderTest {
    final EmbeddedChannel channel = new EmbeddedChannel(new TcpPduDecoder(TcpTransportOptions.defaults()));
    final TestHost host = new TestHost();

    @AfterEach
    void tearDown() {
        channel.finishAndReleaseAll();
    }

    @Test
    void waitsForTheWholePduWhenItArrivesInPieces() {
        ByteBuf capsule = host.capsule(TestHost.connectSqe(1), new byte[1024]);
        int plen = capsule.readableBytes();
        channel.writeInbound(capsule.readRetainedSlice(5));
        assertNull(channel.readInbound());
        channel.writeInbound(capsule.readRetainedSlice(500));
        assertNull(channel.readInbound());
        channel.writeInbound(capsule);
        ByteBuf pdu = channel.readInbound();
        assertEquals(plen, pdu.readableBytes());
        assertEquals(0, pdu.readerIndex());
        assertEquals(PduHeader.TYPE_CAPSULE_CMD, PduHeader.type(pdu));
        pdu.release();
    }

    @Test
    void splitsSeveralPdusInOneRead() {
        ByteBuf stream = Unpooled.directBuffer();
        for (int i = 0; i < 3; i++) {
            ByteBuf c = host.capsule(TestHost.sqe(0, i, 0, 0), null);
            stream.writeBytes(c);
            c.release();
        }
        ByteBuf d = host.h2cData(1, 2, 0, new byte[100], true);
        stream.writeBytes(d);
        d.release();
        channel.writeInbound(stream);
        for (int i = 0; i < 3; i++) {
            ByteBuf pdu = channel.readInbound();
            assertEquals(72, pdu.readableBytes());
            assertEquals(i, pdu.getUnsignedShortLE(8 + 2));
            pdu.release();
        }
        ByteBuf pdu = channel.readInbound();
        assertEquals(PduHeader.TYPE_H2C_DATA, PduHeader.type(pdu));
        pdu.release();
        assertNull(channel.readInbound());
    }

    @Test
    void badHeaderBecomesAFramingErrorAndTheRestIsDiscarded() {
        ByteBuf b = Unpooled.directBuffer();
        b.writeBytes(new byte[]{0x04, 0, 72, 0, 10, 0, 0, 0}); // PLEN 10 < HLEN
        b.writeZero(100);
        channel.writeInbound(b);
        PduFramingError error = assertInstanceOf(PduFramingError.class, channel.readInbound());
        assertEquals(PduHeader.FES_INVALID_HEADER_FIELD, error.fes());
        assertEquals(PduHeader.PLEN_OFFSET, error.fei());
        assertEquals(72, error.content().readableBytes());
        error.release();
        ByteBuf more = host.capsule(TestHost.sqe(0, 1, 0, 0), null);
        channel.writeInbound(more);
        assertNull(channel.readInbound(), "no framing after an error");
    }
}
