package io.vvolgate.gateway.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.fabrics.Port;
import io.vvolgate.gateway.fabrics.Subsystem;
import io.vvolgate.gateway.fabrics.Target;
import io.vvolgate.gateway.nvme.ConnectData;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Sqe;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded, reproducible fuzzing of the NVMe/TCP connection ({@link TcpPduDecoder} + {@link TcpConnection}) with
 * the real core behind it: a {@link Target} with memory namespaces, driven through {@code EmbeddedChannel}s.
 *
 * <p>Each case starts from a valid host conversation (ICReq, Connect with in-capsule data, Property Set CC.EN,
 * Identify, Get Log Page, Get/Set Features, AER, then on an I/O queue in-capsule and R2T writes with their
 * H2CData, reads split over several C2HData, Compare, fused Compare-and-Write, Flush, Write Zeroes, DSM) and
 * mutates it: SQE fields (opcode, NSID, SGL type/length/address, CDW10..15, FUSE, FCTYPE), header fields
 * (type, flags, HLEN, PDO, PLEN), bit flips, truncation, duplicated, dropped and reordered PDUs, garbage; or
 * it is random bytes. Bytes arrive in random pieces. Every case checks that nothing escapes the pipeline,
 * every PDU the target writes is well formed, a C2HTermReq is the last thing written and the connection then
 * closes, the core answers everything, and no controller is left once the connections are gone. Leaks are
 * checked every {@link #LEAK_CHECK_EVERY} cases (and by the extension at the end).
 *
 * <p>Replay a failure with {@code -Dfuzz.seed=<seed> -Dfuzz.cases=1} (the failure message prints the seed);
 * {@code -Dfuzz.cases=N} runs more.
 */
@Timeout(120)
@ExtendWith(LeakFailingExtension.class)
class TcpConnectionFuzzTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:fuzz";
    static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:f0f0f0f0-1111-2222-3333-444444444444";
    static final UUID HOST_ID = UUID.fromString("f0f0f0f0-1111-2222-3333-444444444444");
    static final Port PORT = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);
    static final Port DISCOVERY_PORT = new Port(2, Port.TRTYPE_TCP, "127.0.0.1", "8009", true);
    static final long DEFAULT_SEED = 0x5EED_F00DL;
    static final int DEFAULT_CASES = 2000;
    static final int LEAK_CHECK_EVERY = 500;
    /** How long the core may take to answer what it was given before the case counts as hung. */
    static final long ANSWER_TIMEOUT_NANOS = 5_000_000_000L;
    /** AERL + 1: the AERs one admin queue may have held by the core (they are answered only at teardown). */
    static final int MAX_HELD_AERS = 4;

    static final int[] INTERESTING_32 = {0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x1FF, 0x200, 0x3FF, 0x400,
            0xFFF, 0x1000, 0x1001, 0x2000, 0x2001, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x1FFFF, 0x20000, 0x20001,
            0x100000, 0x100001, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFC, 0xFFFFFFFE, 0xFFFFFFFF};
    static final long[] INTERESTING_64 = {0, 1, 4, 8, 1024, 8191, 8192, 0xFFFFFFFFL, 0x100000000L, -1, -4, -8192,
            Long.MAX_VALUE, Long.MAX_VALUE - 7, Long.MAX_VALUE - 1023, Long.MIN_VALUE, 1L << 55};
    static final int[] OPCODES = {0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x0E, 0x10,
            0x11, 0x14, 0x15, 0x18, 0x19, 0x1C, 0x7C, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x86, 0xC0, 0xFF};
    static final int[] SGL_TYPES = {0x00, 0x01, 0x5A, 0x0A, 0x20, 0x30, 0x40, 0x50, 0x51, 0x5F, 0xF0, 0xFF};

    Target target;
    OwnerThreadLoop loop;
    final List<Link> links = new ArrayList<>();
    final CopyOnWriteArrayList<String> warnings = new CopyOnWriteArrayList<>();
    final List<Throwable> escaped = new ArrayList<>();
    Logger connectionLogger;
    Level connectionLoggerLevel;
    Logger targetLogger;
    Level targetLoggerLevel;
    final Handler warningRecorder = new Handler() {
        @Override
        public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.WARNING.intValue()) {
                warnings.add(record.getMessage() + (record.getThrown() == null ? "" : ": " + record.getThrown()));
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeEach
    void setUp() {
        target = new Target(2);
        Subsystem s = target.addSubsystem(NQN, "FUZZ0001", "vvolgate fuzz", true, List.of());
        target.addNamespace(s, 1, new MemoryBlockDevice(4 << 20, 512), 512, new byte[16], UUID.randomUUID(), 1);
        target.addNamespace(s, 2, new MemoryBlockDevice(4 << 20, 4096), 4096, new byte[16], UUID.randomUUID(), 1);
        target.addPort(PORT);
        target.addPort(DISCOVERY_PORT);
        loop = new OwnerThreadLoop();
        // Fatal errors log at INFO, thousands of times here; warnings (internal errors) fail the case.
        connectionLogger = Logger.getLogger(TcpConnection.class.getName());
        connectionLoggerLevel = connectionLogger.getLevel();
        connectionLogger.setLevel(Level.WARNING);
        connectionLogger.addHandler(warningRecorder);
        targetLogger = Logger.getLogger("vvolgate.target");
        targetLoggerLevel = targetLogger.getLevel();
        targetLogger.setLevel(Level.WARNING);
    }

    @AfterEach
    void tearDown() {
        for (Link l : links) {
            l.channel.close();
        }
        try {
            pumpUntilRetired();
        } finally {
            for (Link l : links) {
                l.channel.finishAndReleaseAll();
            }
            links.clear();
            connectionLogger.removeHandler(warningRecorder);
            connectionLogger.setLevel(connectionLoggerLevel);
            targetLogger.setLevel(targetLoggerLevel);
            target.close();
        }
    }

    // ------------------------------------------------------------------------------------------------
    // The fuzz loop

    @Test
    void mutatedAndRandomPduStreamsNeverCrashLeakOrLeaveControllers() {
        long base = Long.getLong("fuzz.seed", DEFAULT_SEED);
        int cases = Integer.getInteger("fuzz.cases", DEFAULT_CASES);
        int[] outcomes = new int[Outcome.values().length];
        long windowStart = base;
        for (int i = 0; i < cases; i++) {
            long seed = base + i;
            try {
                outcomes[runCase(seed).ordinal()]++;
            } catch (Throwable e) {
                System.err.println("fuzz case with seed " + seed + " failed; replay with -Dfuzz.seed=" + seed + " -Dfuzz.cases=1");
                throw new AssertionError("fuzz case seed " + seed + " (replay: -Dfuzz.seed=" + seed
                        + " -Dfuzz.cases=1): " + e.getMessage(), e);
            }
            if ((i + 1) % LEAK_CHECK_EVERY == 0 || i + 1 == cases) {
                List<String> leaks = LeakFailingExtension.collectLeaks();
                if (!leaks.isEmpty()) {
                    fail("buffer leak in fuzz cases with seeds " + windowStart + ".." + seed
                            + " (replay each with -Dfuzz.seed=<seed> -Dfuzz.cases=1):\n" + String.join("\n\n", leaks));
                }
                windowStart = seed + 1;
            }
        }
        System.out.println("NVMe/TCP fuzz: " + cases + " cases from seed " + base + ": " + describe(outcomes));
        assertTrue(outcomes[Outcome.TERMINATED.ordinal()] > cases / 20, "the fuzzer reaches fatal errors");
        assertTrue(outcomes[Outcome.COMPLETED.ordinal()] > cases / 20, "the fuzzer also gets through whole conversations");
    }

    /**
     * Single header mutations whose fatal error the spec fixes, with random values, on a running admin queue:
     * the C2HTermReq carries that FES and FEI and quotes the header, then the connection closes and the
     * controller goes.
     */
    @Test
    void headerMutationsGetTheirFesAndFei() {
        long base = Long.getLong("fuzz.seed", DEFAULT_SEED);
        for (int i = 0; i < 300; i++) {
            long seed = base + i;
            SplittableRandom rnd = new SplittableRandom(seed);
            nextCid = 0;
            Link l = open();
            establishAdmin(l);
            byte[] pdu = capsulePdu(l.host, sqe(Opcodes.ADMIN_KEEP_ALIVE, 0, 0), null);
            int fes;
            int fei;
            switch (rnd.nextInt(7)) {
                case 0 -> { // a PDU type a host never sends (controller-to-host and undefined types)
                    int[] types = {PduHeader.TYPE_IC_RESP, PduHeader.TYPE_C2H_TERM_REQ, PduHeader.TYPE_CAPSULE_RESP,
                            PduHeader.TYPE_C2H_DATA, 0x08, PduHeader.TYPE_R2T, 0x0A + rnd.nextInt(246)};
                    pdu[PduHeader.TYPE_OFFSET] = (byte) types[rnd.nextInt(types.length)];
                    fes = PduHeader.FES_INVALID_HEADER_FIELD;
                    fei = PduHeader.TYPE_OFFSET;
                }
                case 1 -> {
                    int hlen;
                    do {
                        hlen = rnd.nextInt(256);
                    } while (hlen == CapsuleCmdPdu.HEADER_LENGTH);
                    pdu[PduHeader.HLEN_OFFSET] = (byte) hlen;
                    fes = PduHeader.FES_INVALID_HEADER_FIELD;
                    fei = PduHeader.HLEN_OFFSET;
                }
                case 2 -> { // PLEN shorter than the header, or longer than any capsule we accept
                    long plen = rnd.nextBoolean() ? rnd.nextInt(CapsuleCmdPdu.HEADER_LENGTH)
                            : l.options.maxCapsuleCmdLength() + 1 + rnd.nextLong(0xFFFFFFFFL - l.options.maxCapsuleCmdLength());
                    pdu = setInt(pdu, PduHeader.PLEN_OFFSET, (int) plen);
                    fes = PduHeader.FES_INVALID_HEADER_FIELD;
                    fei = PduHeader.PLEN_OFFSET;
                }
                case 3 -> { // in-capsule data at a PDO inside the header, misaligned, or past the end
                    pdu = capsulePdu(l.host, sqe(Opcodes.ADMIN_KEEP_ALIVE, 0, 0), new byte[64]);
                    int pdo;
                    do {
                        pdo = rnd.nextInt(256);
                    } while (pdo >= CapsuleCmdPdu.HEADER_LENGTH && pdo % 4 == 0 && pdo < pdu.length);
                    pdu[PduHeader.PDO_OFFSET] = (byte) pdo;
                    fes = PduHeader.FES_INVALID_HEADER_FIELD;
                    fei = PduHeader.PDO_OFFSET;
                }
                case 4 -> { // a header digest that was not negotiated
                    pdu[PduHeader.FLAGS_OFFSET] |= PduHeader.FLAG_HDGSTF;
                    fes = PduHeader.FES_INVALID_HEADER_FIELD;
                    fei = PduHeader.FLAGS_OFFSET;
                }
                case 5 -> { // a second ICReq
                    pdu = icReqPdu(0, 0, 0, rnd.nextInt(16));
                    fes = PduHeader.FES_PDU_SEQUENCE_ERROR;
                    fei = 0;
                }
                default -> { // data nobody asked for, under a tag the connection has (0) or one it never gave out
                    boolean known = rnd.nextBoolean();
                    pdu = h2cDataPdu(l.host, 1, known ? 0 : 1 + rnd.nextInt(0xFFFF), 0, new byte[512], true);
                    fes = known ? PduHeader.FES_PDU_SEQUENCE_ERROR : PduHeader.FES_INVALID_HEADER_FIELD;
                    fei = known ? 0 : H2CDataPdu.TTAG_OFFSET;
                }
            }
            try {
                l.deliver(rnd, pdu);
                ByteBuf term = l.pumpAndCheck();
                assertNotNull(term, "a C2HTermReq");
                assertEquals(PduHeader.TYPE_C2H_TERM_REQ, PduHeader.type(term));
                assertEquals(fes, TermReqPdu.fes(term), "FES");
                assertEquals(fei, TermReqPdu.fei(term), "FEI");
                int quoted = (int) PduHeader.plen(term) - TermReqPdu.HEADER_LENGTH;
                assertTrue(quoted >= PduHeader.LENGTH, "quotes the header");
                byte[] quote = new byte[quoted];
                term.getBytes(TermReqPdu.HEADER_LENGTH, quote);
                assertEquals(Arrays.toString(Arrays.copyOf(pdu, quoted)), Arrays.toString(quote), "the quoted header");
                assertFalse(l.channel.isOpen(), "closed after the C2HTermReq");
                pumpUntilRetired();
                assertTrue(target.controllers().isEmpty(), "the controller went with its admin queue");
            } catch (Throwable e) {
                throw new AssertionError("header mutation seed " + seed + ": " + e.getMessage(), e);
            } finally {
                for (Link link : links) {
                    link.channel.finishAndReleaseAll();
                }
                links.clear();
            }
        }
        assertTrue(warnings.isEmpty(), "warnings: " + warnings);
    }

    /** Regression: an in-capsule SGL offset near 2^63 made offset + length overflow past the check. */
    @Test
    void inCapsuleDataOffsetNearLongMaxGetsSglOffsetInvalid() {
        Link l = open();
        establishAdmin(l);
        for (long offset : new long[] {Long.MAX_VALUE - 1023, Long.MAX_VALUE, Long.MIN_VALUE, 8192, 8192 - 1023}) {
            byte[] sqe = sqe(Opcodes.IO_WRITE, 1, 1024, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET);
            ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN).putLong(Sqe.SGL1_ADDRESS_OFFSET, offset);
            l.deliverWhole(capsulePdu(l.host, sqe, new byte[1024]));
            ByteBuf resp = l.pumpAndCheck();
            assertNotNull(resp, "an answer for offset " + offset);
            assertEquals(PduHeader.TYPE_CAPSULE_RESP, PduHeader.type(resp), "offset " + offset);
            assertEquals(TcpConnection.STATUS_SGL_OFFSET_INVALID, CapsuleRespPdu.status(resp), "offset " + offset);
        }
        assertTrue(l.channel.isOpen());
        assertTrue(warnings.isEmpty(), "warnings: " + warnings);
    }

    enum Outcome { TERMINATED, CLOSED_WITHOUT_TERM_REQ, COMPLETED }

    static String describe(int[] outcomes) {
        StringBuilder b = new StringBuilder();
        for (Outcome o : Outcome.values()) {
            b.append(o).append('=').append(outcomes[o.ordinal()]).append(' ');
        }
        return b.toString().trim();
    }

    /** One case: set up, send the (mutated) conversation step by step, tear down, check what is left. */
    Outcome runCase(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        nextCid = 0;
        Outcome outcome;
        try {
            int kind = rnd.nextInt(10);
            if (kind == 0) {
                outcome = randomBytesCase(rnd);
            } else if (kind <= 4) {
                Link admin = open();
                outcome = conversation(rnd, admin, adminScript(rnd), 0);
            } else {
                Link admin = open();
                int cntlid = establishAdmin(admin);
                Link io = open();
                outcome = conversation(rnd, io, ioScript(rnd), cntlid);
            }
            if (rnd.nextBoolean()) {
                // The host closes the admin queue first: the controller goes, and with it the I/O queue.
                for (Link l : links) {
                    l.channel.close();
                }
            } else {
                for (int i = links.size() - 1; i >= 0; i--) {
                    links.get(i).channel.close();
                }
            }
            pumpUntilRetired();
            for (Link l : links) {
                l.receiveAndCheck();
                assertEquals(0, l.host.pending(), "the target wrote a partial PDU before closing");
                l.channel.finishAndReleaseAll();
                assertEquals(0, l.connection.inFlight(), "commands still in flight after close");
            }
            assertTrue(target.controllers().isEmpty(), "controllers left after every connection closed: " + target.controllers());
            assertTrue(escaped.isEmpty(), "exception escaped into the pipeline: " + escaped);
            assertTrue(warnings.isEmpty(), "the connection logged warnings (internal errors): " + warnings);
            return outcome;
        } finally {
            for (Link l : links) {
                l.channel.finishAndReleaseAll();
            }
            links.clear();
            escaped.clear();
            warnings.clear();
        }
    }

    Outcome randomBytesCase(SplittableRandom rnd) {
        Link l = open();
        if (rnd.nextBoolean()) {
            l.deliver(rnd, icReqPdu(0, 0, 0, 0));
            l.pumpAndCheck();
        }
        int pieces = 1 + rnd.nextInt(4);
        for (int i = 0; i < pieces && l.channel.isOpen(); i++) {
            byte[] garbage = new byte[1 + rnd.nextInt(rnd.nextBoolean() ? 16 : 400)];
            rnd.nextBytes(garbage);
            if (rnd.nextInt(3) == 0) {
                // Host PDU types with the right HLEN get past framing into the connection's checks.
                int[] types = {PduHeader.TYPE_IC_REQ, PduHeader.TYPE_H2C_TERM_REQ, PduHeader.TYPE_CAPSULE_CMD, PduHeader.TYPE_H2C_DATA};
                int[] hlens = {IcReqPdu.LENGTH, TermReqPdu.HEADER_LENGTH, CapsuleCmdPdu.HEADER_LENGTH, H2CDataPdu.HEADER_LENGTH};
                int t = rnd.nextInt(types.length);
                garbage = Arrays.copyOf(garbage, Math.max(garbage.length, hlens[t] + 8));
                garbage[0] = (byte) types[t];
                garbage[2] = (byte) hlens[t];
                if (rnd.nextBoolean()) {
                    ByteBuffer.wrap(garbage).order(ByteOrder.LITTLE_ENDIAN).putInt(4, garbage.length);
                }
            }
            l.deliver(rnd, garbage);
            l.pumpAndCheck();
        }
        return l.outcome();
    }

    /** Sends the script's PDUs, mutating some; stops at a C2HTermReq or a closed connection. */
    Outcome conversation(SplittableRandom rnd, Link l, List<Step> script, int cntlid) {
        boolean clean = rnd.nextInt(20) == 0;
        double rate = clean ? 0 : 0.02 + rnd.nextDouble() * 0.15;
        byte[] deferred = null;
        for (int i = 0; i < script.size() && l.channel.isOpen(); i++) {
            Step step = script.get(i);
            List<byte[]> pdus = step.build(l, rnd, cntlid, clean ? 0 : rate);
            for (byte[] pdu : pdus) {
                List<byte[]> out = new ArrayList<>();
                if (!clean && rnd.nextDouble() < rate) {
                    int m = rnd.nextInt(12);
                    switch (m) {
                        case 0 -> out.add(flipBits(rnd, pdu));
                        case 1 -> out.add(setByte(rnd, pdu, rnd.nextInt(pdu.length), interestingByte(rnd)));
                        case 2 -> out.add(setInt(pdu, PduHeader.PLEN_OFFSET, interesting32(rnd)));
                        case 3 -> out.add(setByte(rnd, pdu, PduHeader.HLEN_OFFSET, rnd.nextInt(256)));
                        case 4 -> out.add(setByte(rnd, pdu, PduHeader.PDO_OFFSET, rnd.nextInt(256)));
                        case 5 -> out.add(setByte(rnd, pdu, PduHeader.FLAGS_OFFSET, rnd.nextInt(256)));
                        case 6 -> out.add(setByte(rnd, pdu, PduHeader.TYPE_OFFSET, rnd.nextInt(12)));
                        case 7 -> out.add(Arrays.copyOf(pdu, rnd.nextInt(pdu.length)));
                        case 8 -> {
                            out.add(pdu);
                            out.add(pdu);
                        }
                        case 9 -> { } // dropped
                        case 10 -> deferred = pdu; // reordered: goes after the next PDU
                        default -> {
                            byte[] garbage = new byte[1 + rnd.nextInt(200)];
                            rnd.nextBytes(garbage);
                            out.add(pdu);
                            out.add(garbage);
                        }
                    }
                } else {
                    out.add(pdu);
                }
                if (deferred != null && deferred != pdu) {
                    out.add(deferred);
                    deferred = null;
                }
                for (byte[] b : out) {
                    l.deliver(rnd, withoutKeepAliveTimer(b));
                }
                l.pumpAndCheck();
            }
        }
        if (deferred != null) {
            l.deliver(rnd, withoutKeepAliveTimer(deferred));
            l.pumpAndCheck();
        }
        return l.outcome();
    }

    /**
     * Keeps a mutated Connect or Set Features from arming a short keep-alive timer: its expiry closes the
     * channel from the target's timer thread, which an EmbeddedChannel cannot take. Keep-alive expiry is
     * tested over real sockets ({@code GatewayMalformedInputTest}).
     */
    static byte[] withoutKeepAliveTimer(byte[] pdu) {
        if (pdu.length < CapsuleCmdPdu.HEADER_LENGTH || (pdu[0] & 0xFF) != PduHeader.TYPE_CAPSULE_CMD) {
            return pdu;
        }
        int sqe = CapsuleCmdPdu.SQE_OFFSET;
        int opcode = pdu[sqe] & 0xFF;
        boolean connect = opcode == Opcodes.FABRICS && (pdu[sqe + Sqe.FCTYPE_OFFSET] & 0xFF) == Opcodes.FCTYPE_CONNECT;
        boolean setKato = opcode == Opcodes.ADMIN_SET_FEATURES && (pdu[sqe + Sqe.CDW10_OFFSET] & 0xFF) == Features.KEEP_ALIVE_TIMER;
        if (!connect && !setKato) {
            return pdu;
        }
        byte[] copy = pdu.clone();
        int field = sqe + (connect ? Sqe.CONNECT_KATO_OFFSET : Sqe.CDW11_OFFSET);
        boolean digestWasValid = (pdu[1] & PduHeader.FLAG_HDGSTF) != 0 && pdu.length >= CapsuleCmdPdu.HEADER_LENGTH + 4
                && headerDigest(pdu) == le32(pdu, CapsuleCmdPdu.HEADER_LENGTH);
        Arrays.fill(copy, field, field + 4, (byte) 0);
        if (digestWasValid) {
            ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN).putInt(CapsuleCmdPdu.HEADER_LENGTH, headerDigest(copy));
        }
        return copy;
    }

    static int headerDigest(byte[] pdu) {
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(pdu, 0, CapsuleCmdPdu.HEADER_LENGTH);
        return (int) crc.getValue();
    }

    static int le32(byte[] b, int at) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(at);
    }

    // ------------------------------------------------------------------------------------------------
    // Scripts

    /** One host action: builds its PDU(s) when it is its turn (H2CData needs the R2T that came before). */
    interface Step {
        List<byte[]> build(Link l, SplittableRandom rnd, int cntlid, double sqeMutationRate);
    }

    static Step capsule(java.util.function.Function<SplittableRandom, byte[]> sqe, byte[] data) {
        return (l, rnd, cntlid, rate) -> {
            byte[] s = sqe.apply(rnd);
            if (rnd.nextDouble() < rate) {
                mutateSqe(rnd, s);
            }
            l.noteCapsule(s);
            return List.of(capsulePdu(l.host, s, data));
        };
    }

    List<Step> adminScript(SplittableRandom rnd) {
        List<Step> s = new ArrayList<>();
        s.add(icReqStep());
        boolean discovery = rnd.nextInt(8) == 0;
        s.add(connectStep(discovery ? Target.DISCOVERY_NQN : NQN, 0));
        s.add(capsule(r -> propertySetSqe(Properties.CC, 1 | (6 << 16) | (4 << 20)), null));
        s.add(capsule(r -> propertyGetSqe(Properties.CSTS), null));
        s.add(capsule(r -> cdw(sqe(Opcodes.ADMIN_IDENTIFY, 0, 4096), 10, Identify.CNS_CONTROLLER), null));
        s.add(capsule(r -> cdw(sqe(Opcodes.ADMIN_IDENTIFY, 1, 4096), 10, Identify.CNS_NAMESPACE), null));
        s.add(capsule(r -> cdw(sqe(Opcodes.ADMIN_IDENTIFY, 0, 4096), 10, Identify.CNS_ACTIVE_NAMESPACES), null));
        s.add(capsule(r -> cdw(sqe(Opcodes.ADMIN_IDENTIFY, 1, 4096), 10, Identify.CNS_NAMESPACE_DESCRIPTORS), null));
        s.add(capsule(r -> logPageSqe(discovery ? LogPages.DISCOVERY : LogPages.SMART_HEALTH, discovery ? 3072 : 512), null));
        s.add(capsule(r -> logPageSqe(LogPages.ANA, 4096), null));
        s.add(capsule(r -> logPageSqe(LogPages.COMMANDS_SUPPORTED_AND_EFFECTS, 4096), null));
        s.add(capsule(r -> cdw(sqe(Opcodes.ADMIN_GET_FEATURES, 0, 0), 10, Features.NUMBER_OF_QUEUES), null));
        s.add(capsule(r -> cdw(cdw(sqe(Opcodes.ADMIN_SET_FEATURES, 0, 0), 10, Features.NUMBER_OF_QUEUES), 11, 0x00030003), null));
        s.add(capsule(r -> cdw(cdw(sqe(Opcodes.ADMIN_SET_FEATURES, 0, 0), 10, Features.ASYNC_EVENT_CONFIGURATION), 11, 0x900), null));
        s.add(capsule(r -> sqe(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0, 0), null));
        s.add(capsule(r -> sqe(Opcodes.ADMIN_KEEP_ALIVE, 0, 0), null));
        s.add(capsule(r -> cdw(sqe(Opcodes.ADMIN_ABORT, 0, 0), 10, 0), null));
        if (rnd.nextInt(4) == 0) {
            s.add((l, r, c, rate) -> List.of(h2cTermReqPdu(r.nextInt(8))));
        }
        return s;
    }

    List<Step> ioScript(SplittableRandom rnd) {
        List<Step> s = new ArrayList<>();
        s.add(icReqStep());
        s.add((l, r, cntlid, rate) -> connectStep(NQN, 1 + r.nextInt(4), cntlid).build(l, r, cntlid, rate));
        byte[] small = new byte[4096];
        rnd.nextBytes(small);
        byte[] large = new byte[8192 + 512 * rnd.nextInt(32)];
        rnd.nextBytes(large);
        s.add(capsule(r -> rw(Opcodes.IO_WRITE, 1, 8, 8, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), small));
        s.add(capsule(r -> rw(Opcodes.IO_WRITE, 1, 100, large.length / 512, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        s.add(h2cDataStep(large));
        s.add(capsule(r -> rw(Opcodes.IO_READ, 1, 100, large.length / 512, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        s.add(capsule(r -> rw(Opcodes.IO_READ, 2, 0, 1 + r.nextInt(8), CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        s.add(capsule(r -> rw(Opcodes.IO_COMPARE, 1, 8, 8, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), small));
        s.add(capsule(r -> fuse(rw(Opcodes.IO_COMPARE, 1, 8, 8, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), Opcodes.FUSE_FIRST), small));
        s.add(capsule(r -> fuse(rw(Opcodes.IO_WRITE, 1, 8, 8, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), Opcodes.FUSE_SECOND), small));
        s.add(capsule(r -> sqe(Opcodes.IO_FLUSH, r.nextBoolean() ? 1 : 0xFFFFFFFF, 0), null));
        s.add(capsule(r -> rw(Opcodes.IO_WRITE_ZEROES, 2, 3, 4, 0), null));
        byte[] ranges = new byte[32];
        ByteBuffer.wrap(ranges).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 8).putLong(8, 200).putInt(20, 1).putLong(24, 300);
        s.add(capsule(r -> cdw(cdw(sqe(Opcodes.IO_DATASET_MANAGEMENT, 1, 32, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET), 10, 1), 11, 1 << 2), ranges));
        s.add(capsule(r -> rw(Opcodes.IO_WRITE, 1, 400, large.length / 512, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        s.add(h2cDataStep(large));
        s.add(capsule(r -> rw(Opcodes.IO_READ, 1, 400, large.length / 512, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK), null));
        return s;
    }

    Step icReqStep() {
        return (l, rnd, cntlid, rate) -> {
            int digest = rnd.nextInt(4) == 0 ? rnd.nextInt(4) : 0;
            l.host.headerDigest = (digest & 1) != 0;
            l.host.dataDigest = (digest & 2) != 0;
            int hpda = rnd.nextInt(5) == 0 ? rnd.nextInt(4) : 0;
            return List.of(icReqPdu(0, hpda, digest, rnd.nextInt(4) == 0 ? rnd.nextInt(16) : 0));
        };
    }

    Step connectStep(String subNqn, int qid) {
        return connectStep(subNqn, qid, 0);
    }

    Step connectStep(String subNqn, int qid, int cntlid) {
        return capsule(r -> {
            byte[] sqe = sqe(Opcodes.FABRICS, 0, ConnectData.SIZE, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET);
            sqe[Sqe.FCTYPE_OFFSET] = Opcodes.FCTYPE_CONNECT;
            ByteBuffer b = ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN);
            b.putShort(Sqe.CONNECT_QID_OFFSET, (short) qid);
            b.putShort(Sqe.CONNECT_SQSIZE_OFFSET, (short) (qid == 0 ? 31 : 127));
            return sqe;
        }, connectData(subNqn, qid == 0 ? ConnectData.CNTLID_DYNAMIC : cntlid));
    }

    Step h2cDataStep(byte[] data) {
        return (l, rnd, cntlid, rate) -> {
            ByteBuf r2t = l.lastR2t;
            int cccid = r2t == null ? l.lastCid : R2tPdu.cccid(r2t);
            int ttag = r2t == null ? 0 : R2tPdu.ttag(r2t);
            int offset = r2t == null ? 0 : (int) R2tPdu.offset(r2t);
            int length = r2t == null ? data.length : (int) Math.min(R2tPdu.length(r2t), data.length - offset);
            l.lastR2t = null;
            if (offset < 0 || length <= 0 || offset + length > data.length) {
                offset = 0;
                length = data.length;
            }
            int pieces = rnd.nextInt(3) == 0 ? 2 : 1;
            int first = pieces == 1 ? length : (length / 2) & ~3;
            List<byte[]> out = new ArrayList<>();
            int[][] parts = pieces == 1 ? new int[][] {{offset, length}} : new int[][] {{offset, first}, {offset + first, length - first}};
            for (int i = 0; i < parts.length; i++) {
                byte[] chunk = Arrays.copyOfRange(data, parts[i][0], parts[i][0] + parts[i][1]);
                int dataOffset = parts[i][0];
                int c = cccid;
                int t = ttag;
                if (rnd.nextDouble() < rate) {
                    switch (rnd.nextInt(4)) {
                        case 0 -> c = interesting32(rnd) & 0xFFFF;
                        case 1 -> t = interesting32(rnd) & 0xFFFF;
                        case 2 -> dataOffset = interesting32(rnd);
                        default -> chunk = Arrays.copyOf(chunk, 1 + rnd.nextInt(chunk.length + 64));
                    }
                }
                out.add(h2cDataPdu(l.host, c, t, dataOffset, chunk, i == parts.length - 1));
            }
            return out;
        };
    }

    /** Admin queue set up cleanly (ICReq, Connect, CC.EN, Number of Queues); returns the CNTLID. */
    int establishAdmin(Link l) {
        l.deliverWhole(icReqPdu(0, 0, 0, 0));
        ByteBuf resp = l.pumpAndCheck();
        assertNotNull(resp, "ICResp");
        byte[] connect = sqe(Opcodes.FABRICS, 0, ConnectData.SIZE, CapsuleCmdPdu.SGL_DATA_BLOCK_OFFSET);
        connect[Sqe.FCTYPE_OFFSET] = Opcodes.FCTYPE_CONNECT;
        connect[Sqe.CONNECT_SQSIZE_OFFSET] = 31;
        l.deliverWhole(capsulePdu(l.host, connect, connectData(NQN, ConnectData.CNTLID_DYNAMIC)));
        ByteBuf connected = l.pumpAndCheck();
        assertEquals(Status.SUCCESS, CapsuleRespPdu.status(connected), "admin Connect");
        int cntlid = CapsuleRespPdu.result0(connected) & 0xFFFF;
        l.deliverWhole(capsulePdu(l.host, propertySetSqe(Properties.CC, 1 | (6 << 16) | (4 << 20)), null));
        assertEquals(Status.SUCCESS, CapsuleRespPdu.status(l.pumpAndCheck()), "CC.EN");
        byte[] queues = cdw(cdw(sqe(Opcodes.ADMIN_SET_FEATURES, 0, 0), 10, Features.NUMBER_OF_QUEUES), 11, 0x00030003);
        l.deliverWhole(capsulePdu(l.host, queues, null));
        assertEquals(Status.SUCCESS, CapsuleRespPdu.status(l.pumpAndCheck()), "Number of Queues");
        return cntlid;
    }

    // ------------------------------------------------------------------------------------------------
    // One connection

    Link open() {
        Link l = new Link();
        links.add(l);
        return l;
    }

    /** One host↔target connection of a case, and what the host has seen on it. */
    final class Link {
        final TcpTransportOptions options = TcpTransportOptions.defaults();
        final TcpConnection connection = new TcpConnection(target, PORT, options);
        final EmbeddedChannel channel = new EmbeddedChannel();
        final TestHost host = new TestHost();
        boolean termReqSeen;
        boolean icRespSeen;
        int aersSent;
        int fusedFirstsSent;
        /** CIDs of AERs and fused firsts not answered yet. */
        final List<Integer> heldCids = new ArrayList<>();
        int lastCid;
        ByteBuf lastR2t;
        ByteBuf last;

        Link() {
            channel.pipeline().addLast("decoder", new TcpPduDecoder(options));
            channel.pipeline().addLast("escape-spy", new ChannelInboundHandlerAdapter() {
                @Override
                public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    escaped.add(cause);
                    ctx.fireExceptionCaught(cause);
                }
            });
            channel.pipeline().addLast(loop, "connection", connection);
        }

        void noteCapsule(byte[] sqe) {
            lastCid = (sqe[Sqe.CID_OFFSET] & 0xFF) | (sqe[Sqe.CID_OFFSET + 1] & 0xFF) << 8;
        }

        /** Notes the commands the core may legitimately keep: AERs, and the first of a fused pair. */
        void noteHeldCommands(byte[] pdu) {
            if (pdu.length >= CapsuleCmdPdu.HEADER_LENGTH && pdu[0] == PduHeader.TYPE_CAPSULE_CMD) {
                int sqe = CapsuleCmdPdu.SQE_OFFSET;
                int cid = (pdu[sqe + Sqe.CID_OFFSET] & 0xFF) | (pdu[sqe + Sqe.CID_OFFSET + 1] & 0xFF) << 8;
                if ((pdu[sqe] & 0xFF) == Opcodes.ADMIN_ASYNC_EVENT_REQUEST) {
                    aersSent++;
                    heldCids.add(cid);
                }
                if ((pdu[sqe + Sqe.FLAGS_OFFSET] & 3) == Opcodes.FUSE_FIRST) {
                    fusedFirstsSent++;
                    heldCids.add(cid);
                }
            }
        }

        /** Writes the bytes in random pieces, as TCP may deliver them; dropped once the channel is closed. */
        void deliver(SplittableRandom rnd, byte[] bytes) {
            noteHeldCommands(bytes);
            int at = 0;
            while (at < bytes.length && channel.isOpen()) {
                int n = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(bytes.length - at) : bytes.length - at;
                ByteBuf piece = channel.alloc().buffer(n).writeBytes(bytes, at, n);
                channel.writeInbound(piece);
                at += n;
            }
        }

        void deliverWhole(byte[] bytes) {
            if (channel.isOpen()) {
                channel.writeInbound(channel.alloc().buffer(bytes.length).writeBytes(bytes));
            }
        }

        /** Lets the core answer, checking every PDU the target writes; returns the last one (or null). */
        ByteBuf pumpAndCheck() {
            last = null;
            pump(this);
            ByteBuf answer = last;
            if (termReqSeen) {
                pump(this);
                assertFalse(channel.isOpen(), "the connection stays open after its C2HTermReq");
            }
            return answer;
        }

        /** Takes and checks what the target wrote so far; the last whole PDU is kept in {@link #last}. */
        void receiveAndCheck() {
            host.receive(channel);
            ByteBuf pdu;
            while ((pdu = host.next()) != null) {
                assertFalse(termReqSeen, "the target wrote a PDU after its C2HTermReq");
                checkWellFormed(pdu);
                int type = PduHeader.type(pdu);
                if (type == PduHeader.TYPE_C2H_TERM_REQ) {
                    termReqSeen = true;
                } else if (type == PduHeader.TYPE_CAPSULE_RESP) {
                    heldCids.remove(Integer.valueOf(CapsuleRespPdu.cid(pdu)));
                } else if (type == PduHeader.TYPE_R2T) {
                    lastR2t = pdu;
                } else if (type == PduHeader.TYPE_IC_RESP) {
                    // What was negotiated, which a mutated ICReq may have changed.
                    icRespSeen = true;
                    host.headerDigest = (IcRespPdu.digest(pdu) & IcReqPdu.DIGEST_HEADER) != 0;
                    host.dataDigest = (IcRespPdu.digest(pdu) & IcReqPdu.DIGEST_DATA) != 0;
                }
                last = pdu;
            }
        }

        /** Type, HLEN, PLEN, PDO and digests of one PDU the target wrote. */
        void checkWellFormed(ByteBuf pdu) {
            int type = PduHeader.type(pdu);
            int hlen = PduHeader.hlen(pdu);
            long plen = PduHeader.plen(pdu);
            int flags = PduHeader.flags(pdu);
            boolean hd = (flags & PduHeader.FLAG_HDGSTF) != 0;
            int hdLength = hd ? PduHeader.DIGEST_LENGTH : 0;
            switch (type) {
                case PduHeader.TYPE_IC_RESP -> {
                    assertEquals(IcRespPdu.LENGTH, hlen, "ICResp HLEN");
                    assertEquals(IcRespPdu.LENGTH, plen, "ICResp PLEN");
                    assertFalse(icRespSeen, "ICResp after the ICResp");
                    return;
                }
                case PduHeader.TYPE_C2H_TERM_REQ -> {
                    assertEquals(TermReqPdu.HEADER_LENGTH, hlen, "C2HTermReq HLEN");
                    assertTrue(plen >= TermReqPdu.HEADER_LENGTH && plen <= TermReqPdu.MAX_LENGTH, "C2HTermReq PLEN " + plen);
                    int fes = TermReqPdu.fes(pdu);
                    assertTrue(fes >= PduHeader.FES_INVALID_HEADER_FIELD && fes <= PduHeader.FES_UNSUPPORTED_PARAMETER, "FES " + fes);
                    if (fes == PduHeader.FES_INVALID_HEADER_FIELD || fes == PduHeader.FES_UNSUPPORTED_PARAMETER) {
                        assertTrue(TermReqPdu.fei(pdu) < IcReqPdu.LENGTH, "FEI points into the header: " + TermReqPdu.fei(pdu));
                    }
                    return;
                }
                case PduHeader.TYPE_CAPSULE_RESP, PduHeader.TYPE_R2T, PduHeader.TYPE_C2H_DATA -> {
                    assertTrue(icRespSeen, "PDU type " + type + " before ICResp");
                    assertEquals(24, hlen, "HLEN of PDU type " + type);
                    assertEquals(host.headerDigest, hd, "HDGSTF of PDU type " + type);
                    if (hd) {
                        assertTrue(host.headerDigestOk(pdu), "header digest of PDU type " + type);
                    }
                }
                default -> fail("the target wrote PDU type " + type);
            }
            if (type == PduHeader.TYPE_C2H_DATA) {
                int pdo = PduHeader.pdo(pdu);
                long datal = C2HDataPdu.dataLength(pdu);
                boolean dd = (flags & PduHeader.FLAG_DDGSTF) != 0;
                assertEquals(host.dataDigest, dd, "DDGSTF of C2HData");
                assertTrue(pdo >= hlen + hdLength && pdo % 4 == 0, "C2HData PDO " + pdo);
                assertEquals(pdo + datal + (dd ? 4 : 0), plen, "C2HData PLEN");
                assertTrue(datal > 0 && datal <= options.c2hChunkSize(), "C2HData DATAL " + datal);
                host.c2hData(pdu); // checks the data digest
            } else {
                assertEquals(24 + hdLength, plen, "PLEN of PDU type " + type);
                assertEquals(0, PduHeader.pdo(pdu), "PDO of PDU type " + type);
                if (type == PduHeader.TYPE_R2T) {
                    assertTrue(R2tPdu.length(pdu) > 0 && R2tPdu.length(pdu) <= options.maxH2CData(), "R2TL");
                }
            }
        }

        Outcome outcome() {
            if (termReqSeen) {
                return Outcome.TERMINATED;
            }
            return channel.isOpen() ? Outcome.COMPLETED : Outcome.CLOSED_WITHOUT_TERM_REQ;
        }

        /**
         * All commands answered, except those the core may hold: AERs until something happens, and the first
         * of a fused pair until the next command. (Teardown then requires every one of them back.)
         */
        boolean answered() {
            return connection.inFlight() <= heldCids.size();
        }

        /** The same, not trusting CIDs (a mutated CID may repeat one the core holds). */
        boolean answeredLoosely() {
            return connection.inFlight() <= Math.min(aersSent, MAX_HELD_AERS) + fusedFirstsSent;
        }
    }

    /** Runs the connection's loop until the core has answered what it can (completions come from its threads). */
    void pump(Link l) {
        long start = System.nanoTime();
        long deadline = start + ANSWER_TIMEOUT_NANOS;
        while (true) {
            int ran = loop.runTasks();
            l.channel.runPendingTasks();
            l.receiveAndCheck();
            boolean settled = l.answered() || (System.nanoTime() - start > 200_000_000L && l.answeredLoosely());
            if (ran == 0 && settled && !loop.hasTasks()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail("the core did not answer within 5 s: " + l.connection.inFlight() + " commands in flight");
            }
            if (ran == 0) {
                // Give the CPU to the reactor that is answering (CI machines have few cores).
                LockSupport.parkNanos(20_000);
            }
        }
    }

    /** After every channel closed: until every connection has got back every request from the core. */
    void pumpUntilRetired() {
        long deadline = System.nanoTime() + ANSWER_TIMEOUT_NANOS;
        while (true) {
            int ran = loop.runTasks();
            boolean retired = true;
            for (Link l : links) {
                l.channel.runPendingTasks();
                retired &= l.connection.isClosed() && l.connection.inFlight() == 0;
            }
            if (retired && ran == 0 && !loop.hasTasks()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail("requests not returned by the core within 5 s of closing");
            }
            if (ran == 0) {
                // Give the CPU to the reactor that is answering (CI machines have few cores).
                LockSupport.parkNanos(20_000);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Mutations

    static void mutateSqe(SplittableRandom rnd, byte[] sqe) {
        ByteBuffer b = ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN);
        int n = 1 + rnd.nextInt(3);
        for (int i = 0; i < n; i++) {
            switch (rnd.nextInt(10)) {
                case 0 -> sqe[Sqe.OPCODE_OFFSET] = (byte) (rnd.nextBoolean() ? OPCODES[rnd.nextInt(OPCODES.length)] : rnd.nextInt(256));
                case 1 -> sqe[Sqe.FLAGS_OFFSET] = (byte) rnd.nextInt(256); // FUSE and PSDT
                case 2 -> b.putInt(Sqe.NSID_OFFSET, interesting32(rnd));
                case 3 -> sqe[Sqe.SGL1_TYPE_OFFSET] = (byte) SGL_TYPES[rnd.nextInt(SGL_TYPES.length)];
                case 4 -> b.putInt(Sqe.SGL1_LENGTH_OFFSET, interesting32(rnd));
                case 5 -> b.putLong(Sqe.SGL1_ADDRESS_OFFSET, interesting64(rnd));
                case 6 -> sqe[Sqe.FCTYPE_OFFSET] = (byte) (rnd.nextBoolean() ? rnd.nextInt(10) : rnd.nextInt(256));
                case 7 -> b.putShort(Sqe.CID_OFFSET, (short) interesting32(rnd));
                case 8 -> sqe[Sqe.CDW10_OFFSET + rnd.nextInt(24)] = (byte) rnd.nextInt(256);
                default -> b.putInt(Sqe.CDW10_OFFSET + 4 * rnd.nextInt(6), interesting32(rnd));
            }
        }
    }

    static byte[] flipBits(SplittableRandom rnd, byte[] pdu) {
        byte[] out = pdu.clone();
        int n = 1 + rnd.nextInt(3);
        for (int i = 0; i < n && out.length > 0; i++) {
            int bit = rnd.nextInt(Math.min(out.length, 200) * 8);
            out[bit / 8] ^= (byte) (1 << (bit % 8));
        }
        return out;
    }

    static byte[] setByte(SplittableRandom rnd, byte[] pdu, int at, int value) {
        byte[] out = pdu.clone();
        if (at < out.length) {
            out[at] = (byte) value;
        }
        return out;
    }

    static byte[] setInt(byte[] pdu, int at, int value) {
        byte[] out = pdu.clone();
        if (at + 4 <= out.length) {
            ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putInt(at, value);
        }
        return out;
    }

    static int interestingByte(SplittableRandom rnd) {
        int[] values = {0, 1, 2, 3, 4, 6, 7, 9, 0x18, 0x48, 0x7F, 0x80, 0xFF};
        return rnd.nextBoolean() ? values[rnd.nextInt(values.length)] : rnd.nextInt(256);
    }

    static int interesting32(SplittableRandom rnd) {
        return rnd.nextInt(4) == 0 ? rnd.nextInt() : INTERESTING_32[rnd.nextInt(INTERESTING_32.length)];
    }

    static long interesting64(SplittableRandom rnd) {
        return rnd.nextInt(4) == 0 ? rnd.nextLong() : INTERESTING_64[rnd.nextInt(INTERESTING_64.length)];
    }

    // ------------------------------------------------------------------------------------------------
    // Valid commands

    static int nextCid;

    static byte[] sqe(int opcode, int nsid, int dataLength) {
        return sqe(opcode, nsid, dataLength, CapsuleCmdPdu.SGL_TRANSPORT_DATA_BLOCK);
    }

    static byte[] sqe(int opcode, int nsid, int dataLength, int sglType) {
        byte[] sqe = new byte[64];
        ByteBuffer b = ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN);
        b.put(Sqe.OPCODE_OFFSET, (byte) opcode);
        nextCid = nextCid % 0xFFF0 + 1;
        b.putShort(Sqe.CID_OFFSET, (short) nextCid);
        b.putInt(Sqe.NSID_OFFSET, nsid);
        if (dataLength > 0) {
            b.putInt(Sqe.SGL1_LENGTH_OFFSET, dataLength);
            b.put(Sqe.SGL1_TYPE_OFFSET, (byte) sglType);
        }
        return sqe;
    }

    static byte[] cdw(byte[] sqe, int n, int value) {
        ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN).putInt(n * 4, value);
        return sqe;
    }

    static byte[] fuse(byte[] sqe, int fuse) {
        sqe[Sqe.FLAGS_OFFSET] = (byte) fuse;
        return sqe;
    }

    static byte[] rw(int opcode, int nsid, long slba, int blocks, int sglType) {
        int blockSize = nsid == 2 ? 4096 : 512;
        byte[] sqe = sqe(opcode, nsid, opcode == Opcodes.IO_WRITE_ZEROES ? 0 : blocks * blockSize, sglType);
        cdw(sqe, 10, (int) slba);
        cdw(sqe, 11, (int) (slba >>> 32));
        return cdw(sqe, 12, blocks - 1);
    }

    static byte[] logPageSqe(int lid, int bytes) {
        int numd = bytes / 4 - 1;
        byte[] sqe = sqe(Opcodes.ADMIN_GET_LOG_PAGE, 0xFFFFFFFF, bytes);
        cdw(sqe, 10, lid | ((numd & 0xFFFF) << 16));
        return cdw(sqe, 11, numd >>> 16);
    }

    static byte[] propertySetSqe(int offset, long value) {
        byte[] sqe = sqe(Opcodes.FABRICS, 0, 0);
        sqe[Sqe.FCTYPE_OFFSET] = Opcodes.FCTYPE_PROPERTY_SET;
        ByteBuffer b = ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Sqe.PROPERTY_OFST_OFFSET, offset);
        b.putLong(Sqe.PROPERTY_VALUE_OFFSET, value);
        return sqe;
    }

    static byte[] propertyGetSqe(int offset) {
        byte[] sqe = sqe(Opcodes.FABRICS, 0, 0);
        sqe[Sqe.FCTYPE_OFFSET] = Opcodes.FCTYPE_PROPERTY_GET;
        ByteBuffer.wrap(sqe).order(ByteOrder.LITTLE_ENDIAN).putInt(Sqe.PROPERTY_OFST_OFFSET, offset);
        return sqe;
    }

    static byte[] connectData(String subNqn, int cntlid) {
        ByteBuffer data = ByteBuffer.allocate(ConnectData.SIZE);
        data.putLong(ConnectData.HOSTID_OFFSET, HOST_ID.getMostSignificantBits());
        data.putLong(ConnectData.HOSTID_OFFSET + 8, HOST_ID.getLeastSignificantBits());
        data.order(ByteOrder.LITTLE_ENDIAN).putShort(ConnectData.CNTLID_OFFSET, (short) cntlid);
        data.put(ConnectData.SUBNQN_OFFSET, subNqn.getBytes(StandardCharsets.US_ASCII));
        data.put(ConnectData.HOSTNQN_OFFSET, HOST_NQN.getBytes(StandardCharsets.US_ASCII));
        return data.array();
    }

    // Host PDUs are built in plain wrapped arrays: the leak detector (paranoid) then spends its time on the
    // target's buffers only, which are the ones under test.

    static byte[] icReqPdu(int pfv, int hpda, int digest, int maxR2t) {
        ByteBuf b = Unpooled.wrappedBuffer(new byte[IcReqPdu.LENGTH]).clear();
        IcReqPdu.write(b, pfv, hpda, digest, maxR2t);
        return b.array();
    }

    static byte[] capsulePdu(TestHost host, byte[] sqe, byte[] data) {
        int length = data == null ? 0 : data.length;
        ByteBuf b = Unpooled.wrappedBuffer(new byte[CapsuleCmdPdu.HEADER_LENGTH + 16 + length]).clear();
        CapsuleCmdPdu.writeHeader(b, Unpooled.wrappedBuffer(sqe), 0, length, host.headerDigest, host.dataDigest, 4, host.crc);
        if (length > 0) {
            int start = b.writerIndex();
            b.writeBytes(data);
            if (host.dataDigest) {
                b.writeIntLE(PduHeader.crc32c(host.crc, b, start, length));
            }
        }
        return Arrays.copyOf(b.array(), b.writerIndex());
    }

    static byte[] h2cDataPdu(TestHost host, int cccid, int ttag, int offset, byte[] data, boolean last) {
        ByteBuf b = Unpooled.wrappedBuffer(new byte[H2CDataPdu.HEADER_LENGTH + 16 + data.length]).clear();
        int pdo = PduHeader.dataOffset(H2CDataPdu.HEADER_LENGTH, host.headerDigest, 4);
        H2CDataPdu.writeHeader(b, last ? PduHeader.FLAG_LAST_PDU : 0, cccid, ttag, offset, data.length, pdo,
                host.headerDigest, host.dataDigest, host.crc);
        int start = b.writerIndex();
        b.writeBytes(data);
        if (host.dataDigest) {
            b.writeIntLE(PduHeader.crc32c(host.crc, b, start, data.length));
        }
        return Arrays.copyOf(b.array(), b.writerIndex());
    }

    static byte[] h2cTermReqPdu(int fes) {
        ByteBuf b = Unpooled.wrappedBuffer(new byte[TermReqPdu.HEADER_LENGTH]).clear();
        TermReqPdu.write(b, PduHeader.TYPE_H2C_TERM_REQ, fes, 0, Unpooled.EMPTY_BUFFER, 0, 0);
        return b.array();
    }
}
