package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.nvme.AsyncEvents;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Sqe;
import io.vvolgate.gateway.nvme.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import io.vvolgate.gateway.testing.LeakFailingExtension;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The controller core as a host drives it: Connect, properties, admin and I/O commands, events. */
@ExtendWith(LeakFailingExtension.class)
@Timeout(30)
class TargetTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:test";
    static final byte[] NGUID = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static final UUID NS_UUID = UUID.fromString("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    static final Port PORT = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);
    static final Port DISCOVERY_PORT = new Port(2, Port.TRTYPE_TCP, "127.0.0.1", "8009", true);

    Target target;
    Subsystem subsystem;
    TestQueue admin;
    int cntlid;

    @BeforeEach
    void setUp() {
        target = new Target(1);
        subsystem = target.addSubsystem(NQN, "SERIAL0001", "vvolgate test", true, List.of());
        target.addNamespace(subsystem, 1, new MemoryBlockDevice(8 << 20, 512), 512, NGUID, NS_UUID, 1);
        target.addPort(PORT);
        target.addPort(DISCOVERY_PORT);
        admin = new TestQueue(target, PORT);
    }

    @AfterEach
    void tearDown() {
        target.close();
    }

    /** Admin Connect, then CC.EN = 1 with 64/16-byte entries, as Linux does. */
    void enable() {
        NvmeRequest r = admin.connect(NQN, 0, 31, 0xFFFF, 5000);
        assertEquals(Status.SUCCESS, r.status(), Status.describe(r.status()));
        cntlid = r.result0() & 0xFFFF;
        assertTrue(cntlid >= 1);
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)).status());
        assertEquals(Properties.CSTS_RDY, admin.propertyGet(Properties.CSTS, false).result0());
    }

    TestQueue ioQueue(int qid) {
        TestQueue io = new TestQueue(target, PORT);
        NvmeRequest r = io.connect(NQN, qid, 127, cntlid, 0);
        assertEquals(Status.SUCCESS, r.status(), Status.describe(r.status()));
        return io;
    }

    ByteBuf identify(int cns, int nsid) {
        NvmeRequest r = admin.withReadBuffer(admin.cdw(admin.command(Opcodes.ADMIN_IDENTIFY, nsid), 10, cns), 4096);
        NvmeRequest done = admin.execute(r);
        assertEquals(Status.SUCCESS, done.status(), Status.describe(done.status()));
        assertEquals(4096, done.data().readableBytes());
        return done.data();
    }

    ByteBuf logPage(TestQueue q, int lid, int lsp, int bytes) {
        NvmeRequest r = q.command(Opcodes.ADMIN_GET_LOG_PAGE, 0xFFFFFFFF);
        q.cdw(r, 10, lid | (lsp << 8) | (((bytes / 4) - 1) << 16));
        NvmeRequest done = q.execute(q.withReadBuffer(r, bytes));
        assertEquals(Status.SUCCESS, done.status(), Status.describe(done.status()));
        return done.data();
    }

    static NvmeRequest rw(TestQueue q, int opcode, long slba, int blocks) {
        NvmeRequest r = q.command(opcode, 1);
        q.cdw(r, 10, (int) slba);
        q.cdw(r, 11, (int) (slba >>> 32));
        q.cdw(r, 12, blocks - 1);
        return r;
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    byte[] read(TestQueue q, long slba, int blocks) {
        NvmeRequest done = q.execute(q.withReadBuffer(rw(q, Opcodes.IO_READ, slba, blocks), blocks * 512));
        assertEquals(Status.SUCCESS, done.status(), Status.describe(done.status()));
        byte[] out = new byte[blocks * 512];
        done.data().getBytes(0, out);
        return out;
    }

    int write(TestQueue q, long slba, byte[] data) {
        return q.execute(q.withWriteData(rw(q, Opcodes.IO_WRITE, slba, data.length / 512), data)).status();
    }

    @Test
    void connectPropertiesAndIdentifyControllerDescribeAFabricsController() {
        enable();
        long cap = admin.propertyGet(Properties.CAP, true).result0() & 0xFFFFFFFFL;
        assertEquals(1023, cap & 0xFFFF, "MQES");
        assertEquals(Properties.VERSION_1_3, admin.propertyGet(Properties.VS, false).result0());

        ByteBuf id = identify(Identify.CNS_CONTROLLER, 0);
        assertEquals(cntlid, id.getUnsignedShortLE(Identify.CTRL_CNTLID));
        assertEquals("SERIAL0001", id.toString(Identify.CTRL_SN, 20, StandardCharsets.US_ASCII).trim());
        assertEquals(NQN, id.toString(Identify.CTRL_SUBNQN, NQN.length(), StandardCharsets.US_ASCII));
        assertEquals(0, id.getByte(Identify.CTRL_SUBNQN + NQN.length()));
        assertEquals(8, id.getUnsignedByte(Identify.CTRL_MDTS), "1 MiB in 4 KiB pages");
        assertEquals((64 + 8192) / 16, id.getIntLE(Identify.CTRL_IOCCSZ));
        assertEquals(1, id.getShortLE(Identify.CTRL_FUSES) & 1, "Compare and Write");
        assertEquals(0xD, id.getShortLE(Identify.CTRL_ONCS) & 0xD, "Compare, DSM, Write Zeroes");
        assertEquals(Identify.CMIC_ANA | Identify.CMIC_MULTI_CONTROLLER, id.getByte(Identify.CTRL_CMIC));
        assertTrue(id.getShortLE(Identify.CTRL_KAS) > 0, "Linux refuses a fabrics controller without KAS");
        assertEquals(1, id.getIntLE(Identify.CTRL_SGLS) & 1);
        assertEquals(Identify.CNTRLTYPE_IO, id.getByte(Identify.CTRL_CNTRLTYPE));
    }

    @Test
    void identifyNamespaceDescriptorsAndActiveList() {
        enable();
        ByteBuf ns = identify(Identify.CNS_NAMESPACE, 1);
        assertEquals((8 << 20) / 512, ns.getLongLE(Identify.NS_NSZE));
        assertEquals(9, ns.getByte(Identify.NS_LBAF0 + 2), "512-byte LBAs");
        assertEquals(1, ns.getIntLE(Identify.NS_ANAGRPID));
        byte[] nguid = new byte[16];
        ns.getBytes(Identify.NS_NGUID, nguid);
        assertArrayEquals(NGUID, nguid);

        ByteBuf descs = identify(Identify.CNS_NAMESPACE_DESCRIPTORS, 1);
        assertEquals(Identify.NIDT_NGUID, descs.getByte(0));
        assertEquals(Identify.NIDT_UUID, descs.getByte(20));
        assertEquals(NS_UUID, new UUID(descs.getLong(24), descs.getLong(32)));

        ByteBuf list = identify(Identify.CNS_ACTIVE_NAMESPACES, 0);
        assertEquals(1, list.getIntLE(0));
        assertEquals(0, list.getIntLE(4));

        ByteBuf inactive = identify(Identify.CNS_NAMESPACE, 7);
        assertEquals(0, inactive.getLongLE(Identify.NS_NCAP), "an inactive NSID reads as all zeroes");
    }

    @Test
    void connectRefusesUnknownSubsystemForeignHostAndBadQueueSize() {
        NvmeRequest r = admin.connect("nqn.2026-11.io.vvolgate:nope", 0, 31, 0xFFFF, 5000);
        assertEquals(Status.CONNECT_INVALID_PARAMETERS, r.status());
        assertEquals((1 << 16) | 256, r.result0(), "IATTR = data, IPO = SUBNQN");

        Subsystem closed = target.addSubsystem("nqn.2026-11.io.vvolgate:closed", "S2", "m", false, List.of("nqn.other"));
        assertNotNull(closed);
        r = new TestQueue(target, PORT).connect("nqn.2026-11.io.vvolgate:closed", 0, 31, 0xFFFF, 5000);
        assertEquals(Status.CONNECT_INVALID_HOST, r.status());
        assertEquals((1 << 16) | 512, r.result0(), "IPO = HOSTNQN");

        r = new TestQueue(target, PORT).connect(NQN, 0, 0, 0xFFFF, 5000);
        assertEquals(Status.CONNECT_INVALID_PARAMETERS, r.status());
        assertEquals(44, r.result0(), "IPO = SQSIZE in the SQE");

        TestQueue q = new TestQueue(target, PORT);
        r = q.execute(q.withReadBuffer(q.cdw(q.command(Opcodes.ADMIN_IDENTIFY, 0), 10, 1), 4096));
        assertEquals(Status.COMMAND_SEQUENCE_ERROR, r.status(), "commands before Connect");
    }

    @Test
    void ioQueueConnectNeedsALiveControllerAndAGrantedQueueId() {
        enable();
        NvmeRequest r = new TestQueue(target, PORT).connect(NQN, 1, 127, cntlid + 5, 0);
        assertEquals(Status.CONNECT_INVALID_PARAMETERS, r.status());
        assertEquals((1 << 16) | 16, r.result0(), "IPO = CNTLID");
        r = new TestQueue(target, PORT).connect(NQN, 65, 127, cntlid, 0);
        assertEquals(Status.CONNECT_INVALID_PARAMETERS, r.status());
        assertEquals(42, r.result0(), "IPO = QID");
        ioQueue(1);
        r = new TestQueue(target, PORT).connect(NQN, 1, 127, cntlid, 0);
        assertEquals(Status.CONNECT_INVALID_PARAMETERS, r.status(), "QID 1 is taken");
    }

    @Test
    void readsWhatWasWrittenAndRejectsBadCommandsWithTheirStatus() {
        enable();
        TestQueue io = ioQueue(1);
        byte[] data = pattern(4096, 7);
        assertEquals(Status.SUCCESS, write(io, 100, data));
        assertArrayEquals(data, read(io, 100, 8));
        assertArrayEquals(new byte[512], read(io, 5000, 1), "unwritten blocks read as zeroes");

        long blocks = (8 << 20) / 512;
        assertEquals(Status.LBA_OUT_OF_RANGE, io.execute(io.withReadBuffer(rw(io, Opcodes.IO_READ, blocks - 1, 2), 1024)).status());
        NvmeRequest wrongNs = io.withReadBuffer(rw(io, Opcodes.IO_READ, 0, 1), 512);
        wrongNs.sqe().setIntLE(4, 9);
        assertEquals(Status.INVALID_NAMESPACE, io.execute(wrongNs).status());
        assertEquals(Status.SGL_DATA_LENGTH_INVALID, io.execute(io.withReadBuffer(rw(io, Opcodes.IO_READ, 0, 2), 512)).status());
        assertEquals(Status.INVALID_OPCODE, io.execute(io.command(0x7E, 1)).status());
        assertEquals(Status.SUCCESS, io.execute(io.command(Opcodes.IO_FLUSH, 1)).status());
        assertEquals(Status.SUCCESS, io.execute(io.command(Opcodes.IO_FLUSH, 0xFFFFFFFF)).status());
    }

    @Test
    void writeZeroesAndDeallocateReadBackAsZeroes() {
        enable();
        TestQueue io = ioQueue(1);
        write(io, 0, pattern(8192, 1));
        assertEquals(Status.SUCCESS, io.execute(rw(io, Opcodes.IO_WRITE_ZEROES, 2, 4)).status());
        byte[] after = read(io, 0, 16);
        assertArrayEquals(Arrays.copyOfRange(pattern(8192, 1), 0, 1024), Arrays.copyOfRange(after, 0, 1024));
        assertArrayEquals(new byte[2048], Arrays.copyOfRange(after, 1024, 3072));

        byte[] range = new byte[16];
        ByteBuf rb = io.withWriteData(io.command(0, 0), range).data();
        rb.setIntLE(4, 8);      // 8 blocks
        rb.setLongLE(8, 8);     // from LBA 8
        NvmeRequest dsm = io.command(Opcodes.IO_DATASET_MANAGEMENT, 1);
        io.cdw(dsm, 10, 0);     // one range
        io.cdw(dsm, 11, 1 << 2); // deallocate
        io.withWriteData(dsm, range);
        assertEquals(Status.SUCCESS, io.execute(dsm).status());
        assertArrayEquals(new byte[4096], read(io, 8, 8));
    }

    @Test
    void compareAndFusedCompareAndWrite() {
        enable();
        TestQueue io = ioQueue(1);
        byte[] lock = pattern(512, 3);
        write(io, 10, lock);
        assertEquals(Status.SUCCESS, io.execute(io.withWriteData(rw(io, Opcodes.IO_COMPARE, 10, 1), lock)).status());
        assertEquals(Status.COMPARE_FAILURE, io.execute(io.withWriteData(rw(io, Opcodes.IO_COMPARE, 10, 1), pattern(512, 4))).status());

        // Fused: compare the old value, write the new one.
        byte[] next = pattern(512, 9);
        NvmeRequest cmp = io.withWriteData(rw(io, Opcodes.IO_COMPARE, 10, 1), lock);
        cmp.sqe().setByte(1, Opcodes.FUSE_FIRST);
        NvmeRequest wr = io.withWriteData(rw(io, Opcodes.IO_WRITE, 10, 1), next);
        wr.sqe().setByte(1, Opcodes.FUSE_SECOND);
        io.queue.submit(cmp);
        io.queue.submit(wr);
        NvmeRequest a = io.await();
        NvmeRequest b = io.await();
        assertEquals(Status.SUCCESS, a.status());
        assertEquals(Status.SUCCESS, b.status());
        assertArrayEquals(next, read(io, 10, 1));

        // Fused with a stale compare value: nothing is written, the write is aborted.
        cmp = io.withWriteData(rw(io, Opcodes.IO_COMPARE, 10, 1), lock);
        cmp.sqe().setByte(1, Opcodes.FUSE_FIRST);
        wr = io.withWriteData(rw(io, Opcodes.IO_WRITE, 10, 1), pattern(512, 99));
        wr.sqe().setByte(1, Opcodes.FUSE_SECOND);
        io.queue.submit(cmp);
        io.queue.submit(wr);
        int s1 = io.await().status();
        int s2 = io.await().status();
        assertEquals(List.of(Status.COMPARE_FAILURE, Status.ABORTED_FAILED_FUSED).stream().sorted().toList(),
                List.of(s1, s2).stream().sorted().toList());
        assertArrayEquals(next, read(io, 10, 1));

        // A first fused command followed by an unrelated command: Missing Fused.
        cmp = io.withWriteData(rw(io, Opcodes.IO_COMPARE, 10, 1), next);
        cmp.sqe().setByte(1, Opcodes.FUSE_FIRST);
        io.queue.submit(cmp);
        io.queue.submit(io.command(Opcodes.IO_FLUSH, 1));
        int m1 = io.await().status();
        int m2 = io.await().status();
        assertTrue(m1 == Status.ABORTED_MISSING_FUSED || m2 == Status.ABORTED_MISSING_FUSED);
    }

    @Test
    void anaLogListsTheGroupOptimizedWithItsNamespaces() {
        enable();
        ByteBuf log = logPage(admin, LogPages.ANA, 0, 4096);
        assertEquals(1, log.getShortLE(8), "one group");
        assertEquals(1, log.getIntLE(16), "group ID");
        assertEquals(1, log.getIntLE(20), "one namespace");
        assertEquals(LogPages.ANA_STATE_OPTIMIZED, log.getByte(16 + 16));
        assertEquals(1, log.getIntLE(48), "NSID 1");

        // nvme-cli reads the ANA log in 4 KiB pieces up to its largest possible size.
        NvmeRequest second = admin.command(Opcodes.ADMIN_GET_LOG_PAGE, 0xFFFFFFFF);
        admin.cdw(second, 10, LogPages.ANA | ((4096 / 4 - 1) << 16));
        admin.cdw(second, 12, 4096);
        NvmeRequest done = admin.execute(admin.withReadBuffer(second, 4096));
        assertEquals(Status.SUCCESS, done.status(), Status.describe(done.status()));
        assertEquals(0, done.data().getLongLE(0));

        NvmeRequest smartPastEnd = admin.command(Opcodes.ADMIN_GET_LOG_PAGE, 0xFFFFFFFF);
        admin.cdw(smartPastEnd, 10, LogPages.SMART_HEALTH | ((512 / 4 - 1) << 16));
        admin.cdw(smartPastEnd, 12, 4096);
        assertEquals(Status.INVALID_FIELD, admin.execute(admin.withReadBuffer(smartPastEnd, 512)).status());
    }

    @Test
    void newNamespaceRaisesNamespaceAttributeNoticeOnceUntilTheLogIsRead() {
        enable();
        NvmeRequest set = admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10, Features.ASYNC_EVENT_CONFIGURATION),
                11, AsyncEvents.CONFIG_NAMESPACE_ATTRIBUTE | AsyncEvents.CONFIG_ANA_CHANGE);
        assertEquals(Status.SUCCESS, admin.execute(set).status());
        admin.queue.submit(admin.command(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0));
        admin.queue.submit(admin.command(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0));
        assertNull(admin.completions.poll(), "AERs are held until there is news");

        target.addNamespace(subsystem, 2, new MemoryBlockDevice(1 << 20, 512), 512, new byte[16], UUID.randomUUID(), 1);
        NvmeRequest first = admin.await();
        NvmeRequest second = admin.await();
        assertEquals(AsyncEvents.notice(AsyncEvents.INFO_NAMESPACE_ATTRIBUTE_CHANGED, LogPages.CHANGED_NAMESPACE_LIST), first.result0());
        assertEquals(AsyncEvents.notice(AsyncEvents.INFO_ANA_CHANGE, LogPages.ANA), second.result0());

        ByteBuf changed = logPage(admin, LogPages.CHANGED_NAMESPACE_LIST, 0, 4096);
        assertEquals(2, changed.getIntLE(0));
        assertEquals(0, changed.getIntLE(4));
        assertEquals(0, logPage(admin, LogPages.CHANGED_NAMESPACE_LIST, 0, 4096).getIntLE(0), "reading clears the list");
    }

    @Test
    void discoveryLogListsEachSubsystemPortAndTheCurrentDiscoverySubsystem() {
        TestQueue disc = new TestQueue(target, DISCOVERY_PORT);
        NvmeRequest r = disc.connect(Target.DISCOVERY_NQN, 0, 31, 0xFFFF, 0);
        assertEquals(Status.SUCCESS, r.status());
        ByteBuf log = logPage(disc, LogPages.DISCOVERY, 0, 3072);
        assertEquals(2, log.getLongLE(8), "NUMREC");
        int e = LogPages.DISCOVERY_HEADER_SIZE;
        assertEquals(Port.TRTYPE_TCP, log.getByte(e + LogPages.DISC_TRTYPE));
        assertEquals(LogPages.SUBTYPE_NVME, log.getByte(e + LogPages.DISC_SUBTYPE));
        assertEquals("4420", log.toString(e + LogPages.DISC_TRSVCID, 4, StandardCharsets.US_ASCII));
        assertEquals(NQN, log.toString(e + LogPages.DISC_SUBNQN, NQN.length(), StandardCharsets.US_ASCII));
        assertEquals("127.0.0.1", log.toString(e + LogPages.DISC_TRADDR, 9, StandardCharsets.US_ASCII));
        e += LogPages.DISCOVERY_ENTRY_SIZE;
        assertEquals(LogPages.SUBTYPE_CURRENT_DISCOVERY, log.getByte(e + LogPages.DISC_SUBTYPE));
        assertEquals("8009", log.toString(e + LogPages.DISC_TRSVCID, 4, StandardCharsets.US_ASCII));
    }

    @Test
    void featuresNumberOfQueuesWriteCacheAndSaveIsRefused() {
        enable();
        NvmeRequest r = admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10, Features.NUMBER_OF_QUEUES), 11, (1 << 16) | 1));
        assertEquals(Status.SUCCESS, r.status());
        assertEquals((1 << 16) | 1, r.result0(), "two queues asked, two granted (0-based)");
        assertEquals(Status.CONNECT_INVALID_PARAMETERS, new TestQueue(target, PORT).connect(NQN, 3, 127, cntlid, 0).status(),
                "QID above the granted number");

        r = admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10, Features.VOLATILE_WRITE_CACHE), 11, 0));
        assertEquals(Status.SUCCESS, r.status());
        r = admin.execute(admin.cdw(admin.command(Opcodes.ADMIN_GET_FEATURES, 0), 10, Features.VOLATILE_WRITE_CACHE));
        assertEquals(0, r.result0());
        r = admin.execute(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10, Features.SAVE | Features.KEEP_ALIVE_TIMER));
        assertEquals(Status.FEATURE_NOT_SAVEABLE, r.status());
        r = admin.execute(admin.cdw(admin.command(Opcodes.ADMIN_GET_FEATURES, 0), 10, 0x55));
        assertEquals(Status.INVALID_FIELD, r.status());
    }

    @Test
    void aSilentHostLosesItsControllerWhenKeepAliveExpires() throws InterruptedException {
        NvmeRequest r = admin.connect(NQN, 0, 31, 0xFFFF, 200);
        assertEquals(Status.SUCCESS, r.status());
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (admin.closedReason == null && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertNotNull(admin.closedReason, "the connection is closed");
        assertTrue(admin.closedReason.contains("keep-alive"), admin.closedReason);
        assertEquals(1, target.keepAliveExpiries());
        assertTrue(target.controllers().isEmpty());
    }

    @Test
    void aKeepAliveTimeoutAboveAnHourIsRefusedAtConnectAndBySetFeatures() {
        for (int kato : new int[] {3_600_001, -1 /* FFFFFFFFh: would read as negative, i.e. no timeout */}) {
            NvmeRequest r = new TestQueue(target, PORT).connect(NQN, 0, 31, 0xFFFF, kato);
            assertEquals(Status.CONNECT_INVALID_PARAMETERS, r.status(), "KATO " + Integer.toUnsignedString(kato));
            assertEquals(Sqe.CONNECT_KATO_OFFSET, r.result0(), "IATTR 0 (the SQE), IPO = byte 48, CDW12 KATO");
        }
        assertTrue(target.controllers().isEmpty());

        NvmeRequest r = admin.connect(NQN, 0, 31, 0xFFFF, 3_600_000);
        assertEquals(Status.SUCCESS, r.status(), "one hour is accepted");
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)).status());
        for (int kato : new int[] {3_600_001, -1}) {
            NvmeRequest set = admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10,
                    Features.KEEP_ALIVE_TIMER), 11, kato));
            assertEquals(Status.INVALID_FIELD, set.status(), "Set Features KATO " + Integer.toUnsignedString(kato));
        }
        NvmeRequest get = admin.execute(admin.cdw(admin.command(Opcodes.ADMIN_GET_FEATURES, 0), 10, Features.KEEP_ALIVE_TIMER));
        assertEquals(3_600_000, get.result0(), "the refused values changed nothing");
    }

    @Test
    void beforeCcEnOnlyFabricsCommandsAreAccepted() {
        NvmeRequest r = admin.connect(NQN, 0, 31, 0xFFFF, 5000);
        assertEquals(Status.SUCCESS, r.status());
        for (int opcode : new int[] {Opcodes.ADMIN_IDENTIFY, Opcodes.ADMIN_KEEP_ALIVE, Opcodes.ADMIN_GET_FEATURES}) {
            NvmeRequest early = admin.command(opcode, 0);
            admin.cdw(early, 10, opcode == Opcodes.ADMIN_GET_FEATURES ? Features.KEEP_ALIVE_TIMER : Identify.CNS_CONTROLLER);
            if (opcode == Opcodes.ADMIN_IDENTIFY) {
                admin.withReadBuffer(early, 4096);
            }
            assertEquals(Status.COMMAND_SEQUENCE_ERROR, admin.execute(early).status(), "opcode " + opcode + " before CC.EN");
        }
        // What Linux sends between Connect and enabling still works: Property Get CAP, Property Set CC.
        assertEquals(1023, admin.propertyGet(Properties.CAP, true).result0() & 0xFFFF);
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)).status());
        assertEquals(Properties.CSTS_RDY, admin.propertyGet(Properties.CSTS, false).result0());
        identify(Identify.CNS_CONTROLLER, 0);
        // Disabled again (a controller reset): back to Fabrics commands only.
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 0).status());
        NvmeRequest late = admin.withReadBuffer(admin.cdw(admin.command(Opcodes.ADMIN_IDENTIFY, 0), 10, Identify.CNS_CONTROLLER), 4096);
        assertEquals(Status.COMMAND_SEQUENCE_ERROR, admin.execute(late).status());

        // A discovery controller answers without being enabled, as Linux's target does: some discovery
        // clients read the log straight after Connect.
        TestQueue disc = new TestQueue(target, DISCOVERY_PORT);
        assertEquals(Status.SUCCESS, disc.connect(Target.DISCOVERY_NQN, 0, 31, 0xFFFF, 0).status());
        assertEquals(2, logPage(disc, LogPages.DISCOVERY, 0, 3072).getLongLE(8), "NUMREC");
    }

    @Test
    void trafficBasedKeepAliveIsAdvertisedAndIoKeepsAControllerAliveWithoutKeepAlives() {
        NvmeRequest r = admin.connect(NQN, 0, 31, 0xFFFF, 300);
        assertEquals(Status.SUCCESS, r.status());
        cntlid = r.result0() & 0xFFFF;
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)).status());
        ByteBuf id = identify(Identify.CNS_CONTROLLER, 0);
        assertEquals(Identify.CTRATT_TBKAS, id.getIntLE(Identify.CTRL_CTRATT) & Identify.CTRATT_TBKAS, "CTRATT bit 6");
        assertEquals(10, id.getUnsignedShortLE(Identify.CTRL_KAS), "KAS: KATO granularity in 100 ms units, 1 s");

        // Reads on an I/O queue for four times KATO, and not one Keep Alive: the controller stays.
        TestQueue io = ioQueue(1);
        long end = System.nanoTime() + 1_200_000_000L;
        while (System.nanoTime() < end) {
            read(io, 0, 1);
        }
        assertNull(admin.closedReason);
        assertEquals(0, target.keepAliveExpiries());
        assertEquals(1, target.controllers().size());
    }

    @Test
    void closingTheAdminQueueDestroysTheControllerAndClosesItsIoQueues() {
        enable();
        TestQueue io = ioQueue(1);
        admin.queue.submit(admin.command(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0));
        admin.close();
        NvmeRequest aer = admin.await();
        assertEquals(Status.ABORTED_SQ_DELETION, aer.status());
        assertNotNull(io.closedReason);
        assertTrue(target.controllers().isEmpty());
    }
    @Test
    void keepAliveAbortShutdownAndDisconnect() {
        enable();
        assertEquals(Status.SUCCESS, admin.execute(admin.command(Opcodes.ADMIN_KEEP_ALIVE, 0)).status());

        NvmeRequest aer = admin.command(Opcodes.ADMIN_ASYNC_EVENT_REQUEST, 0);
        int aerCid = aer.cid();
        admin.queue.submit(aer);
        NvmeRequest abort = admin.cdw(admin.command(Opcodes.ADMIN_ABORT, 0), 10, aerCid << 16);
        admin.queue.submit(abort);
        NvmeRequest first = admin.await();
        NvmeRequest second = admin.await();
        NvmeRequest abortedAer = first.cid() == aerCid ? first : second;
        NvmeRequest abortDone = first.cid() == aerCid ? second : first;
        assertEquals(Status.ABORT_REQUESTED, abortedAer.status());
        assertEquals(0, abortDone.result0() & 1, "DW0 bit 0 clear: the command was aborted");

        NvmeRequest io = admin.cdw(admin.command(Opcodes.ADMIN_ABORT, 0), 10, (999 << 16) | 1);
        assertEquals(1, admin.execute(io).result0() & 1, "an unknown command is reported as not aborted");

        // Normal shutdown: SHST goes to complete once the namespaces are flushed.
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20) | (1 << 14)).status());
        long deadline = System.nanoTime() + 5_000_000_000L;
        while ((admin.propertyGet(Properties.CSTS, false).result0() & 0xC) != Properties.CSTS_SHST_COMPLETE
                && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(Properties.CSTS_SHST_COMPLETE, admin.propertyGet(Properties.CSTS, false).result0() & 0xC);

        TestQueue q = ioQueue(1);
        NvmeRequest disconnect = q.command(Opcodes.FABRICS, 0);
        disconnect.sqe().setByte(4, Opcodes.FCTYPE_DISCONNECT);
        assertEquals(Status.SUCCESS, q.execute(disconnect).status());
        assertNotNull(q.closedReason, "Disconnect closes the queue's connection");
    }
}
