package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Properties;
import io.vvolgate.gateway.nvme.Status;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The content of the admin answers a host reads (log pages 01h, 02h, 03h, 05h; Identify CNS 05h/06h;
 * Feature 04h), checked byte by byte at the offsets of the NVMe base specification, as nvme-cli would
 * decode them.
 */
@ExtendWith(LeakFailingExtension.class)
@Timeout(30)
class AdminCommandsTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:admin";
    static final Port PORT = new Port(1, Port.TRTYPE_TCP, "127.0.0.1", "4420", false);

    Target target;
    TestQueue admin;

    @BeforeEach
    void setUp() {
        target = new Target(1);
        Subsystem subsystem = target.addSubsystem(NQN, "SERIAL0002", "vvolgate test", true, List.of());
        target.addNamespace(subsystem, 1, new MemoryBlockDevice(8 << 20, 512), 512,
                new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                UUID.fromString("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"), 1);
        target.addPort(PORT);
        admin = new TestQueue(target, PORT);
        NvmeRequest r = admin.connect(NQN, 0, 31, 0xFFFF, 5000);
        assertEquals(Status.SUCCESS, r.status(), Status.describe(r.status()));
        assertEquals(Status.SUCCESS, admin.propertySet(Properties.CC, 1 | (6 << 16) | (4 << 20)).status());
    }

    @AfterEach
    void tearDown() {
        target.close();
    }

    /** Get Log Page of {@code bytes} (NUMDL = dwords - 1) for all namespaces. */
    NvmeRequest getLog(int lid, int bytes) {
        NvmeRequest r = admin.command(Opcodes.ADMIN_GET_LOG_PAGE, 0xFFFFFFFF);
        admin.cdw(r, 10, lid | (((bytes / 4) - 1) << 16));
        return admin.execute(admin.withReadBuffer(r, bytes));
    }

    ByteBuf log(int lid, int bytes) {
        NvmeRequest done = getLog(lid, bytes);
        assertEquals(Status.SUCCESS, done.status(), Status.describe(done.status()));
        assertEquals(bytes, done.data().readableBytes());
        return done.data();
    }

    NvmeRequest identify(int cns, int nsid, int csi) {
        NvmeRequest r = admin.command(Opcodes.ADMIN_IDENTIFY, nsid);
        admin.cdw(r, 10, cns);
        admin.cdw(r, 11, csi << 24);
        return admin.execute(admin.withReadBuffer(r, Identify.SIZE));
    }

    NvmeRequest setFeature(int fid, int cdw11) {
        return admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10, fid), 11, cdw11));
    }

    NvmeRequest getFeature(int fid, int sel, int cdw11) {
        return admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_GET_FEATURES, 0), 10,
                fid | (sel << Features.SEL_SHIFT)), 11, cdw11));
    }

    static boolean allZero(ByteBuf b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b.getByte(i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** A 128-bit little-endian SMART counter whose value fits the low 64 bits. */
    static long counter(ByteBuf smart, int offset) {
        assertEquals(0, smart.getLongLE(offset + 8), "high half of the 16-byte counter at " + offset);
        return smart.getLongLE(offset);
    }

    @Test
    void errorLogHasOneEntryAndItIsEmpty() {
        ByteBuf id = identify(Identify.CNS_CONTROLLER, 0, 0).data();
        assertEquals(0, id.getUnsignedByte(Identify.CTRL_ELPE), "ELPE 0: the log holds one 64-byte entry");
        ByteBuf entry = log(LogPages.ERROR_INFORMATION, 64);
        // Error Count (bytes 7:0) 0 marks the entry as invalid: nothing has failed.
        assertEquals(0, entry.getLongLE(0));
        assertTrue(allZero(entry, 0, 64));
        // Reading past the one entry: the offset is beyond the log, so Invalid Field.
        NvmeRequest r = admin.command(Opcodes.ADMIN_GET_LOG_PAGE, 0xFFFFFFFF);
        admin.cdw(r, 10, LogPages.ERROR_INFORMATION | (15 << 16));
        admin.cdw(r, 12, 128);
        assertEquals(Status.INVALID_FIELD, admin.execute(admin.withReadBuffer(r, 64)).status());
    }

    @Test
    void smartCountersMoveWithIoAndTheHealthFieldsAreThoseOfAHealthyDevice() {
        ByteBuf before = log(LogPages.SMART_HEALTH, LogPages.SMART_SIZE);
        assertEquals(0, before.getUnsignedByte(0), "Critical Warning");
        assertEquals(273 + 35, before.getUnsignedShortLE(1), "Composite Temperature in kelvin (no sensor: 35 °C)");
        assertEquals(100, before.getUnsignedByte(3), "Available Spare %");
        assertEquals(10, before.getUnsignedByte(4), "Available Spare Threshold %");
        assertEquals(0, before.getUnsignedByte(5), "Percentage Used");
        assertEquals(0, counter(before, 32), "Data Units Read");
        assertEquals(0, counter(before, 48), "Data Units Written");
        assertEquals(0, counter(before, 64), "Host Read Commands");
        assertEquals(0, counter(before, 80), "Host Write Commands");
        assertEquals(1, counter(before, 112), "Power Cycles");

        TestQueue io = new TestQueue(target, PORT);
        int cntlid = target.controllers().iterator().next().cntlid();
        assertEquals(Status.SUCCESS, io.connect(NQN, 1, 127, cntlid, 0).status());
        // 1001 blocks of 512 bytes written in one command, 8 read in each of two: data units are
        // thousands of 512-byte units, rounded up, so 1001 gives 2 and 16 gives 1.
        assertEquals(Status.SUCCESS, io.execute(io.withWriteData(TargetTest.rw(io, Opcodes.IO_WRITE, 0, 1001),
                TargetTest.pattern(1001 * 512, 7))).status());
        for (int i = 0; i < 2; i++) {
            NvmeRequest read = io.execute(io.withReadBuffer(TargetTest.rw(io, Opcodes.IO_READ, i * 8, 8), 8 * 512));
            assertEquals(Status.SUCCESS, read.status());
        }

        ByteBuf after = log(LogPages.SMART_HEALTH, LogPages.SMART_SIZE);
        assertEquals(1, counter(after, 32), "Data Units Read: 16 units of 512 bytes round up to 1");
        assertEquals(2, counter(after, 48), "Data Units Written: 1001 units of 512 bytes round up to 2");
        assertEquals(2, counter(after, 64), "Host Read Commands");
        assertEquals(1, counter(after, 80), "Host Write Commands");
        assertEquals(0, counter(after, 160), "Media and Data Integrity Errors");
        assertEquals(0, after.getUnsignedByte(0), "still no critical warning");
    }

    @Test
    void firmwareSlotLogNamesSlotOneActiveWithTheIdentifyControllerRevision() {
        ByteBuf id = identify(Identify.CNS_CONTROLLER, 0, 0).data();
        assertEquals(0b11, id.getUnsignedByte(Identify.CTRL_FRMW), "FRMW: one slot (bits 3:1), slot 1 read-only (bit 0)");
        String fr = id.toString(Identify.CTRL_FR, 8, StandardCharsets.US_ASCII);

        ByteBuf fw = log(LogPages.FIRMWARE_SLOT, LogPages.FIRMWARE_SLOT_SIZE);
        assertEquals(1, fw.getUnsignedByte(0), "AFI: slot 1 active (bits 2:0), no slot chosen for the next reset (bits 6:4)");
        assertEquals(fr, fw.toString(8, 8, StandardCharsets.US_ASCII), "FRS1 is the FR field of Identify Controller");
        assertEquals(Target.FIRMWARE_REVISION, fr.trim());
        assertTrue(allZero(fw, 16, LogPages.FIRMWARE_SLOT_SIZE), "FRS2..FRS7 empty");
    }

    @Test
    void effectsLogMarksEachSupportedCommandAndWhichChangeLogicalBlocks() {
        ByteBuf id = identify(Identify.CNS_CONTROLLER, 0, 0).data();
        assertEquals(Identify.LPA_EFFECTS, id.getUnsignedByte(Identify.CTRL_LPA) & Identify.LPA_EFFECTS,
                "LPA bit 1: the effects log is supported");

        ByteBuf effects = log(LogPages.COMMANDS_SUPPORTED_AND_EFFECTS, LogPages.EFFECTS_SIZE);
        int csupp = 1;
        int lbcc = 1 << 1;
        // Admin Command Supported: 256 dwords from byte 0, one per opcode.
        Set<Integer> admin = Set.of(0x02, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x18);
        for (int op = 0; op < 256; op++) {
            int e = effects.getIntLE(op * 4);
            assertEquals(admin.contains(op) ? csupp : 0, e, "admin opcode " + Integer.toHexString(op));
        }
        // I/O Command Supported: 256 dwords from byte 1024. Write, Write Zeroes and Dataset Management
        // (deallocate) change logical block content; Flush, Read and Compare do not.
        Set<Integer> io = Set.of(0x00, 0x01, 0x02, 0x05, 0x08, 0x09);
        Set<Integer> changes = Set.of(0x01, 0x08, 0x09);
        for (int op = 0; op < 256; op++) {
            int e = effects.getIntLE(1024 + op * 4);
            int expected = (io.contains(op) ? csupp : 0) | (changes.contains(op) ? lbcc : 0);
            assertEquals(expected, e, "I/O opcode " + Integer.toHexString(op));
        }
        assertTrue(allZero(effects, 2048, LogPages.EFFECTS_SIZE), "bytes 2048..4095 are reserved");
    }

    @Test
    void identifyNvmCommandSetSpecificPagesAreZeroAndOtherCommandSetsAreRefused() {
        for (int cns : new int[] {Identify.CNS_CS_NAMESPACE, Identify.CNS_CS_CONTROLLER}) {
            NvmeRequest r = identify(cns, 1, Identify.CSI_NVM);
            assertEquals(Status.SUCCESS, r.status(), "CNS " + cns);
            assertEquals(Identify.SIZE, r.data().readableBytes());
            // NVM: no protection information, no extended LBA formats (05h); no Verify/Write Zeroes/DSM
            // size limits beyond MDTS (06h): all zero.
            assertTrue(allZero(r.data(), 0, Identify.SIZE), "CNS " + cns + " is a zero page");
            assertEquals(Status.INVALID_FIELD, identify(cns, 1, 0x02).status(), "CSI 02h (zoned) is not supported");
        }
        NvmeRequest inactive = identify(Identify.CNS_CS_NAMESPACE, 2, Identify.CSI_NVM);
        assertEquals(Status.SUCCESS, inactive.status(), "an inactive NSID gets a zero page, as with CNS 00h");
        assertTrue(allZero(inactive.data(), 0, Identify.SIZE));
        assertEquals(Status.INVALID_NAMESPACE, identify(Identify.CNS_CS_NAMESPACE, 0, Identify.CSI_NVM).status());
        assertEquals(Status.INVALID_NAMESPACE, identify(Identify.CNS_CS_NAMESPACE, 0xFFFFFFFF, Identify.CSI_NVM).status());
    }

    @Test
    void temperatureThresholdIsSetReadBackAndReachingItRaisesTheCriticalWarning() {
        ByteBuf id = identify(Identify.CNS_CONTROLLER, 0, 0).data();
        int wctemp = id.getUnsignedShortLE(Identify.CTRL_WCTEMP);

        NvmeRequest current = getFeature(Features.TEMPERATURE_THRESHOLD, 0, 0);
        assertEquals(Status.SUCCESS, current.status());
        assertEquals(wctemp, current.result0() & 0xFFFF, "the default over-temperature threshold is WCTEMP");

        // TMPTH (bits 15:0) = 300 K, TMPSEL (19:16) = 0 composite, THSEL (21:20) = 0 over-temperature.
        assertEquals(Status.SUCCESS, setFeature(Features.TEMPERATURE_THRESHOLD, 300).status());
        assertEquals(300, getFeature(Features.TEMPERATURE_THRESHOLD, 0, 0).result0(), "SEL 0: current");
        assertEquals(wctemp, getFeature(Features.TEMPERATURE_THRESHOLD, 1, 0).result0(), "SEL 1: default");
        assertEquals(wctemp, getFeature(Features.TEMPERATURE_THRESHOLD, 2, 0).result0(),
                "SEL 2: saved; nothing is saveable, so the default");
        assertEquals(1 << 2, getFeature(Features.TEMPERATURE_THRESHOLD, 3, 0).result0(),
                "SEL 3: changeable (bit 2), not saveable (bit 0), not per namespace (bit 1)");

        // The composite temperature (308 K) is now at or above the threshold: Critical Warning bit 1.
        ByteBuf smart = log(LogPages.SMART_HEALTH, LogPages.SMART_SIZE);
        assertEquals(LogPages.SMART_WARNING_TEMPERATURE, smart.getUnsignedByte(LogPages.SMART_CRITICAL_WARNING));
        assertEquals(Status.SUCCESS, setFeature(Features.TEMPERATURE_THRESHOLD, 309).status());
        assertEquals(0, log(LogPages.SMART_HEALTH, LogPages.SMART_SIZE).getUnsignedByte(LogPages.SMART_CRITICAL_WARNING));

        // Only the composite sensor's over-temperature threshold exists.
        assertEquals(Status.INVALID_FIELD, setFeature(Features.TEMPERATURE_THRESHOLD, (1 << 16) | 300).status(), "sensor 1");
        assertEquals(Status.INVALID_FIELD, setFeature(Features.TEMPERATURE_THRESHOLD, (1 << 20) | 250).status(), "under");
        assertEquals(Status.INVALID_FIELD, getFeature(Features.TEMPERATURE_THRESHOLD, 0, 1 << 20).status(), "under");
        assertEquals(309, getFeature(Features.TEMPERATURE_THRESHOLD, 0, 0).result0(), "refused sets change nothing");
        NvmeRequest saved = admin.execute(admin.cdw(admin.cdw(admin.command(Opcodes.ADMIN_SET_FEATURES, 0), 10,
                Features.SAVE | Features.TEMPERATURE_THRESHOLD), 11, 320));
        assertEquals(Status.FEATURE_NOT_SAVEABLE, saved.status());
    }
}
