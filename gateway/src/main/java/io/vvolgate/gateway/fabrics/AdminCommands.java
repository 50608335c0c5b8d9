package io.vvolgate.gateway.fabrics;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.DeviceHealth;
import io.vvolgate.gateway.nvme.AsyncEvents;
import io.vvolgate.gateway.nvme.Features;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.LogPages;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.nvme.Status;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Admin commands of I/O and discovery controllers: Identify, Get Log Page, Set/Get Features, Keep Alive,
 * Asynchronous Event Request, Abort. They run on the admin queue's thread; they are rare, so they build
 * their answers in scratch buffers rather than in place.
 */
final class AdminCommands {
    private AdminCommands() {
    }

    static void execute(Controller c, NvmeRequest r) {
        switch (r.opcode()) {
            case Opcodes.ADMIN_IDENTIFY -> identify(c, r);
            case Opcodes.ADMIN_GET_LOG_PAGE -> getLogPage(c, r);
            case Opcodes.ADMIN_SET_FEATURES -> setFeatures(c, r);
            case Opcodes.ADMIN_GET_FEATURES -> getFeatures(c, r);
            case Opcodes.ADMIN_KEEP_ALIVE -> QueuePair.finish(r, Status.SUCCESS);
            case Opcodes.ADMIN_ASYNC_EVENT_REQUEST -> {
                if (!c.holdAsyncEventRequest(r)) {
                    QueuePair.finish(r, Status.ASYNC_EVENT_LIMIT_EXCEEDED);
                }
            }
            case Opcodes.ADMIN_ABORT -> abort(c, r);
            default -> QueuePair.finish(r, Status.INVALID_OPCODE);
        }
    }

    // --- Identify ---

    private static void identify(Controller c, NvmeRequest r) {
        int cns = r.cdw(10) & 0xFF;
        boolean discovery = c.subsystem().isDiscovery();
        if (r.dataDirection() != NvmeRequest.DIR_C2H || r.dataLength() < 1) {
            QueuePair.finish(r, Status.SGL_DATA_LENGTH_INVALID);
            return;
        }
        ByteBuf page = Unpooled.buffer(Identify.SIZE, Identify.SIZE);
        try {
            page.writeZero(Identify.SIZE);
            int status;
            if (cns == Identify.CNS_CONTROLLER) {
                identifyController(c, r, page);
                status = Status.SUCCESS;
            } else if (discovery) {
                status = Status.INVALID_FIELD;
            } else {
                status = switch (cns) {
                    case Identify.CNS_NAMESPACE -> identifyNamespace(c, r.nsid(), page);
                    case Identify.CNS_ACTIVE_NAMESPACES -> activeNamespaces(c, r.nsid(), page);
                    case Identify.CNS_NAMESPACE_DESCRIPTORS -> namespaceDescriptors(c, r.nsid(), page);
                    case Identify.CNS_CS_CONTROLLER, Identify.CNS_CS_NAMESPACE -> {
                        int csi = (r.cdw(11) >>> 24) & 0xFF;
                        if (csi != Identify.CSI_NVM) {
                            yield Status.INVALID_FIELD;
                        }
                        if (cns == Identify.CNS_CS_CONTROLLER) {
                            yield Status.SUCCESS;
                        }
                        // The NVM command set's own namespace fields (protection, extended LBA formats) are
                        // all unused here, so an active namespace's page is zero. So is an inactive one's, as
                        // for CNS 00h: the host learns it is not attached rather than that the NSID is bad.
                        int nsid = r.nsid();
                        yield nsid != 0 && Integer.compareUnsigned(nsid, Target.MAX_NAMESPACES) <= 0
                                ? Status.SUCCESS : Status.INVALID_NAMESPACE;
                    }
                    default -> Status.INVALID_FIELD;
                };
            }
            if (status == Status.SUCCESS) {
                copyOut(r, page, 0);
            }
            QueuePair.finish(r, status);
        } finally {
            page.release();
        }
    }

    private static void identifyController(Controller c, NvmeRequest r, ByteBuf id) {
        Subsystem s = c.subsystem();
        boolean discovery = s.isDiscovery();
        QueueTransport t = r.transport();
        id.setShortLE(Identify.CTRL_VID, 0);
        id.setShortLE(Identify.CTRL_SSVID, 0);
        ascii(id, Identify.CTRL_SN, 20, s.serial());
        ascii(id, Identify.CTRL_MN, 40, s.model());
        ascii(id, Identify.CTRL_FR, 8, Target.FIRMWARE_REVISION);
        id.setByte(Identify.CTRL_RAB, 6);
        id.setByte(Identify.CTRL_CMIC, discovery ? 0 : Identify.CMIC_MULTI_CONTROLLER | Identify.CMIC_ANA);
        id.setByte(Identify.CTRL_MDTS, mdts(t.maxDataTransferSize()));
        id.setShortLE(Identify.CTRL_CNTLID, c.cntlid());
        id.setIntLE(Identify.CTRL_VER, io.vvolgate.gateway.nvme.Properties.VERSION_1_3);
        id.setIntLE(Identify.CTRL_OAES, discovery
                ? AsyncEvents.CONFIG_DISCOVERY_LOG_CHANGE
                : AsyncEvents.CONFIG_NAMESPACE_ATTRIBUTE | AsyncEvents.CONFIG_ANA_CHANGE);
        id.setByte(Identify.CTRL_CNTRLTYPE, discovery ? Identify.CNTRLTYPE_DISCOVERY : Identify.CNTRLTYPE_IO);
        id.setShortLE(Identify.CTRL_OACS, 0);
        id.setByte(Identify.CTRL_ACL, 3);
        id.setByte(Identify.CTRL_AERL, Controller.MAX_AERS - 1);
        id.setByte(Identify.CTRL_FRMW, (1 << 1) | 1); // one slot, read-only
        id.setByte(Identify.CTRL_LPA, Identify.LPA_EFFECTS | Identify.LPA_EXTENDED);
        id.setByte(Identify.CTRL_ELPE, 0);
        id.setShortLE(Identify.CTRL_WCTEMP, 0x157);
        id.setShortLE(Identify.CTRL_CCTEMP, 0x175);
        id.setShortLE(Identify.CTRL_KAS, Target.KEEP_ALIVE_GRANULARITY_100MS);
        // Traffic-based keep-alive: any command restarts the keep-alive timer (QueuePair.submit touches the
        // controller), so a host busy with I/O need not also send Keep Alive commands. Linux reads this bit.
        id.setIntLE(Identify.CTRL_CTRATT, Identify.CTRATT_TBKAS);
        if (!discovery) {
            id.setByte(Identify.CTRL_ANATT, Target.ANA_TRANSITION_SECONDS);
            id.setByte(Identify.CTRL_ANACAP, 0x1F);
            id.setIntLE(Identify.CTRL_ANAGRPMAX, Target.ANA_GROUP_MAX);
            id.setIntLE(Identify.CTRL_NANAGRPID, Target.ANA_GROUP_MAX);
            id.setByte(Identify.CTRL_SQES, 0x66);
            id.setByte(Identify.CTRL_CQES, 0x44);
            id.setIntLE(Identify.CTRL_NN, Target.MAX_NAMESPACES);
            id.setShortLE(Identify.CTRL_ONCS, Identify.ONCS_COMPARE | Identify.ONCS_DATASET_MANAGEMENT | Identify.ONCS_WRITE_ZEROES);
            id.setShortLE(Identify.CTRL_FUSES, Identify.FUSES_COMPARE_AND_WRITE);
            // Volatile write cache present; Flush with NSID FFFFFFFFh applies to all namespaces (bits 2:1 = 11b).
            id.setByte(Identify.CTRL_VWC, Identify.VWC_PRESENT | (0x3 << 1));
            id.setShortLE(Identify.CTRL_ACWU, Target.ATOMIC_COMPARE_WRITE_BLOCKS - 1);
            id.setIntLE(Identify.CTRL_MNAN, Target.MAX_NAMESPACES);
        }
        id.setShortLE(Identify.CTRL_MAXCMD, Target.MAX_QUEUE_ENTRIES);
        id.setIntLE(Identify.CTRL_SGLS, Identify.SGLS_SUPPORTED | Identify.SGLS_OFFSET);
        nulTerminated(id, Identify.CTRL_SUBNQN, 256, s.nqn());
        id.setIntLE(Identify.CTRL_IOCCSZ, (64 + t.inCapsuleDataSize()) / 16);
        id.setIntLE(Identify.CTRL_IORCSZ, 1);
        id.setShortLE(Identify.CTRL_ICDOFF, 0);
        id.setByte(Identify.CTRL_MSDBD, 1);
    }

    /** MDTS: the largest transfer as a power of two in units of the 4 KiB minimum page size. */
    static int mdts(int maxTransfer) {
        return Integer.numberOfTrailingZeros(Integer.highestOneBit(maxTransfer) / 4096);
    }

    private static int identifyNamespace(Controller c, int nsid, ByteBuf id) {
        if (nsid == 0 || nsid == 0xFFFFFFFF) {
            return Status.INVALID_NAMESPACE;
        }
        Namespace ns = c.namespace(nsid);
        if (ns == null) {
            // An inactive NSID: a zero-filled structure, so the host sees it as not attached.
            return Integer.compareUnsigned(nsid, Target.MAX_NAMESPACES) <= 0 ? Status.SUCCESS : Status.INVALID_NAMESPACE;
        }
        long blocks = ns.blockCount();
        id.setLongLE(Identify.NS_NSZE, blocks);
        id.setLongLE(Identify.NS_NCAP, blocks);
        id.setLongLE(Identify.NS_NUSE, blocks);
        id.setByte(Identify.NS_NSFEAT, 0);
        id.setByte(Identify.NS_NLBAF, 0);
        id.setByte(Identify.NS_FLBAS, 0);
        id.setByte(Identify.NS_NMIC, 1);
        id.setByte(Identify.NS_DLFEAT, Identify.DLFEAT_READS_ZEROES_WZ_DEALLOCATES);
        id.setShortLE(Identify.NS_NACWU, Target.ATOMIC_COMPARE_WRITE_BLOCKS - 1);
        id.setIntLE(Identify.NS_ANAGRPID, ns.anaGroup().id());
        id.setByte(Identify.NS_NSATTR, ns.device().readOnly() ? 1 : 0);
        id.setBytes(Identify.NS_NGUID, ns.nguidUnsafe());
        id.setShortLE(Identify.NS_LBAF0, 0);
        id.setByte(Identify.NS_LBAF0 + 2, ns.blockShift());
        id.setByte(Identify.NS_LBAF0 + 3, 0);
        return Status.SUCCESS;
    }

    private static int activeNamespaces(Controller c, int after, ByteBuf list) {
        if (after == 0xFFFFFFFF || after == 0xFFFFFFFE) {
            return Status.INVALID_NAMESPACE;
        }
        int at = 0;
        for (Namespace ns : c.namespaces()) {
            if (Integer.compareUnsigned(ns.nsid(), after) > 0 && at < Identify.SIZE) {
                list.setIntLE(at, ns.nsid());
                at += 4;
            }
        }
        return Status.SUCCESS;
    }

    private static int namespaceDescriptors(Controller c, int nsid, ByteBuf out) {
        Namespace ns = c.namespace(nsid);
        if (ns == null) {
            return Status.INVALID_NAMESPACE;
        }
        int at = 0;
        out.setByte(at, Identify.NIDT_NGUID);
        out.setByte(at + 1, 16);
        out.setBytes(at + 4, ns.nguidUnsafe());
        at += 20;
        out.setByte(at, Identify.NIDT_UUID);
        out.setByte(at + 1, 16);
        out.setLong(at + 4, ns.uuid().getMostSignificantBits());
        out.setLong(at + 12, ns.uuid().getLeastSignificantBits());
        at += 20;
        out.setByte(at, Identify.NIDT_CSI);
        out.setByte(at + 1, 1);
        out.setByte(at + 4, Identify.CSI_NVM);
        return Status.SUCCESS;
    }

    // --- Get Log Page ---

    private static void getLogPage(Controller c, NvmeRequest r) {
        int cdw10 = r.cdw(10);
        int lid = cdw10 & 0xFF;
        int lsp = (cdw10 >>> 8) & 0x7F;
        boolean retain = (cdw10 & (1 << 15)) != 0;
        long numd = ((cdw10 >>> 16) & 0xFFFFL) | ((r.cdw(11) & 0xFFFFL) << 16);
        long length = (numd + 1) * 4;
        long offset = (r.cdw(12) & 0xFFFFFFFFL) | ((long) r.cdw(13) << 32);
        if (r.dataDirection() != NvmeRequest.DIR_C2H || r.dataLength() < length) {
            QueuePair.finish(r, Status.SGL_DATA_LENGTH_INVALID);
            return;
        }
        if ((offset & 3) != 0) {
            QueuePair.finish(r, Status.INVALID_FIELD);
            return;
        }
        boolean discovery = c.subsystem().isDiscovery();
        ByteBuf page;
        if (discovery) {
            page = switch (lid) {
                case LogPages.DISCOVERY -> discoveryLog(c, r.transport().port());
                case LogPages.ERROR_INFORMATION -> zeroes(LogPages.ERROR_ENTRY_SIZE);
                default -> null;
            };
        } else {
            page = switch (lid) {
                case LogPages.ERROR_INFORMATION -> zeroes(LogPages.ERROR_ENTRY_SIZE);
                case LogPages.SMART_HEALTH -> smartLog(c, r.nsid());
                case LogPages.FIRMWARE_SLOT -> firmwareSlotLog();
                case LogPages.CHANGED_NAMESPACE_LIST -> changedNamespaceLog(c, retain);
                case LogPages.COMMANDS_SUPPORTED_AND_EFFECTS -> effectsLog();
                case LogPages.ANA -> anaLog(c, (lsp & LogPages.ANA_LSP_GROUPS_ONLY) != 0);
                default -> null;
            };
        }
        if (page == null) {
            QueuePair.finish(r, Status.INVALID_LOG_PAGE);
            return;
        }
        try {
            // The ANA log's length varies with the groups and namespaces; hosts size their reads for the
            // largest it can be (nvme-cli reads it in 4 KiB pieces), so any offset up to that is valid.
            long limit = lid == LogPages.ANA
                    ? LogPages.ANA_HEADER_SIZE + (long) Target.ANA_GROUP_MAX * LogPages.ANA_DESCRIPTOR_SIZE + 4L * Target.MAX_NAMESPACES
                    : page.readableBytes();
            // LPO is unsigned: an offset with bit 63 set is past the end too, not a negative index.
            if (offset < 0 || offset > limit) {
                QueuePair.finish(r, Status.INVALID_FIELD);
                return;
            }
            copyOut(r, page, (int) offset);
            c.logPageRead(lid, retain);
            QueuePair.finish(r, Status.SUCCESS);
        } finally {
            page.release();
        }
    }

    private static ByteBuf zeroes(int size) {
        return Unpooled.buffer(size).writeZero(size);
    }

    private static ByteBuf smartLog(Controller c, int nsid) {
        ByteBuf log = zeroes(LogPages.SMART_SIZE);
        long blocksRead = 0;
        long blocksWritten = 0;
        long reads = 0;
        long writes = 0;
        long mediaErrors = 0;
        int temperature = 0;
        int spare = 100;
        int used = 0;
        long powerOnHours = 0;
        for (Namespace ns : c.namespaces()) {
            if (nsid != 0 && nsid != 0xFFFFFFFF && ns.nsid() != nsid) {
                continue;
            }
            long unit = ns.blockSize() / 512;
            blocksRead += ns.blocksRead.sum() * unit;
            blocksWritten += ns.blocksWritten.sum() * unit;
            reads += ns.readCommands.sum();
            writes += ns.writeCommands.sum();
            mediaErrors += ns.mediaErrors.sum();
            DeviceHealth h = ns.device().health();
            temperature = Math.max(temperature, h.temperatureKelvin());
            spare = Math.min(spare, h.availableSparePercent());
            used = Math.max(used, h.percentageUsed());
            mediaErrors += h.mediaErrors();
            powerOnHours = Math.max(powerOnHours, h.powerOnHours());
        }
        if (temperature == 0) {
            temperature = 273 + 35; // no sensor: report a plausible constant rather than absolute zero
        }
        log.setShortLE(LogPages.SMART_TEMPERATURE, temperature);
        log.setByte(LogPages.SMART_AVAILABLE_SPARE, spare);
        log.setByte(LogPages.SMART_SPARE_THRESHOLD, 10);
        log.setByte(LogPages.SMART_PERCENTAGE_USED, Math.min(255, used));
        int warning = 0;
        if (spare < 10) {
            warning |= LogPages.SMART_WARNING_SPARE;
        }
        // The over-temperature threshold is the host's to choose (Feature 04h); reaching it is a warning.
        if (temperature >= c.temperatureThreshold()) {
            warning |= LogPages.SMART_WARNING_TEMPERATURE;
        }
        log.setByte(LogPages.SMART_CRITICAL_WARNING, warning);
        // Data units are thousands of 512-byte units, rounded up.
        log.setLongLE(LogPages.SMART_DATA_UNITS_READ, (blocksRead + 999) / 1000);
        log.setLongLE(LogPages.SMART_DATA_UNITS_WRITTEN, (blocksWritten + 999) / 1000);
        log.setLongLE(LogPages.SMART_HOST_READS, reads);
        log.setLongLE(LogPages.SMART_HOST_WRITES, writes);
        log.setLongLE(LogPages.SMART_POWER_CYCLES, 1);
        log.setLongLE(LogPages.SMART_POWER_ON_HOURS, Math.max(powerOnHours, c.target().uptimeHours()));
        log.setLongLE(LogPages.SMART_MEDIA_ERRORS, mediaErrors);
        return log;
    }

    private static ByteBuf firmwareSlotLog() {
        ByteBuf log = zeroes(LogPages.FIRMWARE_SLOT_SIZE);
        log.setByte(0, 1); // slot 1 active
        ascii(log, 8, 8, Target.FIRMWARE_REVISION);
        return log;
    }

    private static ByteBuf changedNamespaceLog(Controller c, boolean retain) {
        ByteBuf log = zeroes(LogPages.CHANGED_NAMESPACE_LIST_SIZE);
        int at = 0;
        for (int nsid : c.takeChangedNamespaces(retain)) {
            log.setIntLE(at, nsid);
            at += 4;
        }
        return log;
    }

    private static ByteBuf effectsLog() {
        ByteBuf log = zeroes(LogPages.EFFECTS_SIZE);
        int supported = 1;
        int contentChange = 1 << 1;
        for (int op : new int[] {Opcodes.ADMIN_GET_LOG_PAGE, Opcodes.ADMIN_IDENTIFY, Opcodes.ADMIN_ABORT,
                Opcodes.ADMIN_SET_FEATURES, Opcodes.ADMIN_GET_FEATURES, Opcodes.ADMIN_ASYNC_EVENT_REQUEST,
                Opcodes.ADMIN_KEEP_ALIVE}) {
            log.setIntLE(op * 4, supported);
        }
        int io = 1024;
        log.setIntLE(io + Opcodes.IO_FLUSH * 4, supported);
        log.setIntLE(io + Opcodes.IO_WRITE * 4, supported | contentChange);
        log.setIntLE(io + Opcodes.IO_READ * 4, supported);
        log.setIntLE(io + Opcodes.IO_COMPARE * 4, supported);
        log.setIntLE(io + Opcodes.IO_WRITE_ZEROES * 4, supported | contentChange);
        log.setIntLE(io + Opcodes.IO_DATASET_MANAGEMENT * 4, supported | contentChange);
        return log;
    }

    private static ByteBuf anaLog(Controller c, boolean groupsOnly) {
        List<Target.AnaGroupView> groups = c.target().anaGroupsOf(c);
        int size = LogPages.ANA_HEADER_SIZE;
        for (Target.AnaGroupView g : groups) {
            size += LogPages.ANA_DESCRIPTOR_SIZE + (groupsOnly ? 0 : 4 * g.nsids().length);
        }
        ByteBuf log = zeroes(size);
        log.setLongLE(0, c.target().anaChangeCount());
        log.setShortLE(8, groups.size());
        int at = LogPages.ANA_HEADER_SIZE;
        for (Target.AnaGroupView g : groups) {
            int[] nsids = groupsOnly ? new int[0] : g.nsids();
            log.setIntLE(at, g.group().id());
            log.setIntLE(at + 4, nsids.length);
            log.setLongLE(at + 8, g.group().changeCount());
            log.setByte(at + 16, g.group().state());
            at += LogPages.ANA_DESCRIPTOR_SIZE;
            for (int nsid : nsids) {
                log.setIntLE(at, nsid);
                at += 4;
            }
        }
        return log;
    }

    private static ByteBuf discoveryLog(Controller c, Port connectedPort) {
        List<Port> ports = c.target().ports();
        List<Subsystem> subsystems = c.target().subsystemsFor(c.hostNqn());
        int entries = 0;
        for (Port p : ports) {
            if (!p.discovery()) {
                entries += subsystems.size();
            }
        }
        boolean current = connectedPort != null;
        if (current) {
            entries++;
        }
        ByteBuf log = zeroes(LogPages.DISCOVERY_HEADER_SIZE + entries * LogPages.DISCOVERY_ENTRY_SIZE);
        log.setLongLE(0, c.target().discoveryGeneration());
        log.setLongLE(8, entries);
        log.setShortLE(16, 0);
        int at = LogPages.DISCOVERY_HEADER_SIZE;
        for (Port p : ports) {
            if (p.discovery()) {
                continue;
            }
            for (Subsystem s : subsystems) {
                discoveryEntry(log, at, p, LogPages.SUBTYPE_NVME, s.nqn());
                at += LogPages.DISCOVERY_ENTRY_SIZE;
            }
        }
        if (current) {
            discoveryEntry(log, at, connectedPort, LogPages.SUBTYPE_CURRENT_DISCOVERY, Target.DISCOVERY_NQN);
        }
        return log;
    }

    private static void discoveryEntry(ByteBuf log, int at, Port p, int subtype, String nqn) {
        log.setByte(at + LogPages.DISC_TRTYPE, p.transport());
        log.setByte(at + LogPages.DISC_ADRFAM, p.addressFamily());
        log.setByte(at + LogPages.DISC_SUBTYPE, subtype);
        log.setByte(at + LogPages.DISC_TREQ, LogPages.TREQ_NOT_REQUIRED_SQFLOW_DISABLE_OK);
        log.setShortLE(at + LogPages.DISC_PORTID, p.portId());
        log.setShortLE(at + LogPages.DISC_CNTLID, 0xFFFF);
        log.setShortLE(at + LogPages.DISC_ASQSZ, Target.MAX_ADMIN_QUEUE_ENTRIES);
        nulTerminated(log, at + LogPages.DISC_TRSVCID, 32, p.service());
        nulTerminated(log, at + LogPages.DISC_SUBNQN, 256, nqn);
        nulTerminated(log, at + LogPages.DISC_TRADDR, 256, p.address());
        // TSAS for TCP: SECTYPE 0 (no security), already zero.
    }

    // --- Features ---

    private static void setFeatures(Controller c, NvmeRequest r) {
        int cdw10 = r.cdw(10);
        int fid = cdw10 & 0xFF;
        int value = r.cdw(11);
        if ((cdw10 & Features.SAVE) != 0) {
            QueuePair.finish(r, Status.FEATURE_NOT_SAVEABLE);
            return;
        }
        boolean discovery = c.subsystem().isDiscovery();
        switch (fid) {
            case Features.NUMBER_OF_QUEUES -> {
                int nsqr = value & 0xFFFF;
                int ncqr = (value >>> 16) & 0xFFFF;
                if (discovery || nsqr == 0xFFFF || ncqr == 0xFFFF) {
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                int granted = c.grantIoQueues(Math.min(nsqr, ncqr) + 1) - 1;
                r.setResult(granted | (granted << 16));
                QueuePair.finish(r, Status.SUCCESS);
            }
            case Features.ASYNC_EVENT_CONFIGURATION -> {
                int allowed = discovery
                        ? AsyncEvents.CONFIG_DISCOVERY_LOG_CHANGE
                        : AsyncEvents.CONFIG_NAMESPACE_ATTRIBUTE | AsyncEvents.CONFIG_ANA_CHANGE | 0xFF;
                if ((value & ~allowed) != 0) {
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                c.setAsyncEventConfig(value);
                QueuePair.finish(r, Status.SUCCESS);
            }
            case Features.KEEP_ALIVE_TIMER -> {
                if (Integer.toUnsignedLong(value) > Target.MAX_KATO_MS) {
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                c.setKeepAliveTimeoutMs(value);
                QueuePair.finish(r, Status.SUCCESS);
            }
            case Features.VOLATILE_WRITE_CACHE -> {
                if (discovery) {
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                c.setWriteCacheEnabled((value & 1) != 0);
                QueuePair.finish(r, Status.SUCCESS);
            }
            case Features.TEMPERATURE_THRESHOLD -> {
                if (discovery || ((value >>> 16) & 0xFF) != 0) {
                    // Only the composite sensor's over-temperature threshold exists here.
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                c.setTemperatureThreshold(value & 0xFFFF);
                QueuePair.finish(r, Status.SUCCESS);
            }
            default -> QueuePair.finish(r, Status.INVALID_FIELD);
        }
    }

    private static void getFeatures(Controller c, NvmeRequest r) {
        int cdw10 = r.cdw(10);
        int fid = cdw10 & 0xFF;
        int sel = (cdw10 >>> Features.SEL_SHIFT) & 0x7;
        boolean discovery = c.subsystem().isDiscovery();
        if (sel == 3) {
            // Supported capabilities: every feature here is changeable, none saveable, none per namespace.
            boolean known = switch (fid) {
                case Features.NUMBER_OF_QUEUES, Features.VOLATILE_WRITE_CACHE, Features.TEMPERATURE_THRESHOLD -> !discovery;
                case Features.ASYNC_EVENT_CONFIGURATION, Features.KEEP_ALIVE_TIMER -> true;
                default -> false;
            };
            if (!known) {
                QueuePair.finish(r, Status.INVALID_FIELD);
                return;
            }
            r.setResult(1 << 2);
            QueuePair.finish(r, Status.SUCCESS);
            return;
        }
        if (sel > 3) {
            QueuePair.finish(r, Status.INVALID_FIELD);
            return;
        }
        // No feature is saveable, so "saved" is the default value (the spec's rule when there is no saved one).
        boolean defaults = sel == 1 || sel == 2;
        int result;
        switch (fid) {
            case Features.NUMBER_OF_QUEUES -> {
                if (discovery) {
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                int n = (defaults ? c.maxIoQueues() : c.ioQueuesGranted()) - 1;
                result = n | (n << 16);
            }
            case Features.ASYNC_EVENT_CONFIGURATION -> result = defaults ? 0 : c.asyncEventConfig();
            case Features.KEEP_ALIVE_TIMER -> result = defaults ? Target.DEFAULT_KATO_MS : c.keepAliveTimeoutMs();
            case Features.VOLATILE_WRITE_CACHE -> {
                if (discovery) {
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                result = defaults || c.writeCacheEnabled() ? 1 : 0;
            }
            case Features.TEMPERATURE_THRESHOLD -> {
                if (discovery || ((r.cdw(11) >>> 16) & 0xFF) != 0) {
                    // As for Set: only the composite sensor's over-temperature threshold exists.
                    QueuePair.finish(r, Status.INVALID_FIELD);
                    return;
                }
                result = defaults ? Controller.DEFAULT_TEMPERATURE_THRESHOLD : c.temperatureThreshold();
            }
            default -> {
                QueuePair.finish(r, Status.INVALID_FIELD);
                return;
            }
        }
        r.setResult(result);
        QueuePair.finish(r, Status.SUCCESS);
    }

    // --- Abort ---

    private static void abort(Controller c, NvmeRequest r) {
        int cdw10 = r.cdw(10);
        int sqid = cdw10 & 0xFFFF;
        int cid = (cdw10 >>> 16) & 0xFFFF;
        // Only a held Asynchronous Event Request can still be stopped; everything else runs to completion
        // quickly, which the spec allows: DW0 bit 0 = 1 says "not aborted".
        boolean aborted = sqid == 0 && c.abortAsyncEventRequest(cid);
        r.setResult(aborted ? 0 : 1);
        QueuePair.finish(r, Status.SUCCESS);
    }

    // --- helpers ---

    /** Copies {@code page} from {@code offset} into the request's data, zero-filling what is left. */
    private static void copyOut(NvmeRequest r, ByteBuf page, int offset) {
        ByteBuf out = r.data();
        int length = r.dataLength();
        int n = Math.max(0, Math.min(length, page.readableBytes() - offset));
        if (n > 0) {
            out.writeBytes(page, page.readerIndex() + offset, n);
        }
        out.writeZero(length - n);
    }

    /** ASCII, space padded, as Identify's string fields are. */
    private static void ascii(ByteBuf buf, int offset, int length, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < length; i++) {
            buf.setByte(offset + i, i < bytes.length ? bytes[i] : ' ');
        }
    }

    private static void nulTerminated(ByteBuf buf, int offset, int length, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(bytes.length, length - 1);
        buf.setBytes(offset, bytes, 0, n);
        buf.setZero(offset + n, length - n);
    }
}
