package io.vvolgate.gateway.nvme;

/**
 * Identify (admin opcode 06h): CNS values and the byte offsets of the fields the target fills in the
 * 4096-byte Identify Controller and Identify Namespace data structures (NVMe base 2.0 §5.17.2, NVM command
 * set 1.0 §4.1.5). CDW10 CNS(7:0) CNTID(31:16); CDW11 CSI(31:24).
 */
public final class Identify {
    public static final int SIZE = 4096;

    public static final int CNS_NAMESPACE = 0x00;
    public static final int CNS_CONTROLLER = 0x01;
    public static final int CNS_ACTIVE_NAMESPACES = 0x02;
    public static final int CNS_NAMESPACE_DESCRIPTORS = 0x03;
    public static final int CNS_CS_NAMESPACE = 0x05;
    public static final int CNS_CS_CONTROLLER = 0x06;
    public static final int CSI_NVM = 0x00;

    // Identify Controller
    public static final int CTRL_VID = 0;
    public static final int CTRL_SSVID = 2;
    public static final int CTRL_SN = 4;          // 20 ASCII bytes, space padded
    public static final int CTRL_MN = 24;         // 40
    public static final int CTRL_FR = 64;         // 8
    public static final int CTRL_RAB = 72;
    public static final int CTRL_IEEE = 73;
    public static final int CTRL_CMIC = 76;
    public static final int CTRL_MDTS = 77;
    public static final int CTRL_CNTLID = 78;
    public static final int CTRL_VER = 80;
    public static final int CTRL_OAES = 92;
    public static final int CTRL_CTRATT = 96;
    /** CTRATT bit 6: Traffic Based Keep Alive Support (any command restarts the keep-alive timer). */
    public static final int CTRATT_TBKAS = 1 << 6;
    public static final int CTRL_CNTRLTYPE = 111;
    public static final int CTRL_OACS = 256;
    public static final int CTRL_ACL = 258;
    public static final int CTRL_AERL = 259;
    public static final int CTRL_FRMW = 260;
    public static final int CTRL_LPA = 261;
    public static final int CTRL_ELPE = 262;
    public static final int CTRL_WCTEMP = 266;
    public static final int CTRL_CCTEMP = 268;
    public static final int CTRL_KAS = 320;
    public static final int CTRL_ANATT = 342;
    public static final int CTRL_ANACAP = 343;
    public static final int CTRL_ANAGRPMAX = 344;
    public static final int CTRL_NANAGRPID = 348;
    public static final int CTRL_SQES = 512;
    public static final int CTRL_CQES = 513;
    public static final int CTRL_MAXCMD = 514;
    public static final int CTRL_NN = 516;
    public static final int CTRL_ONCS = 520;
    public static final int CTRL_FUSES = 522;
    public static final int CTRL_FNA = 524;
    public static final int CTRL_VWC = 525;
    public static final int CTRL_AWUN = 526;
    public static final int CTRL_AWUPF = 528;
    public static final int CTRL_ACWU = 532;
    public static final int CTRL_SGLS = 536;
    public static final int CTRL_MNAN = 540;
    public static final int CTRL_SUBNQN = 768;    // 256
    public static final int CTRL_IOCCSZ = 1792;
    public static final int CTRL_IORCSZ = 1796;
    public static final int CTRL_ICDOFF = 1800;
    public static final int CTRL_MSDBD = 1803;

    public static final int CMIC_MULTI_CONTROLLER = 1 << 1;
    public static final int CMIC_ANA = 1 << 3;
    public static final int CNTRLTYPE_IO = 1;
    public static final int CNTRLTYPE_DISCOVERY = 2;
    public static final int ONCS_COMPARE = 1;
    public static final int ONCS_DATASET_MANAGEMENT = 1 << 2;
    public static final int ONCS_WRITE_ZEROES = 1 << 3;
    public static final int FUSES_COMPARE_AND_WRITE = 1;
    public static final int VWC_PRESENT = 1;
    /** SGLS bit 0: SGLs supported; bit 20: the SGL data block descriptor may carry an offset (in-capsule data). */
    public static final int SGLS_SUPPORTED = 1;
    public static final int SGLS_OFFSET = 1 << 20;
    /** LPA bit 1: Commands Supported and Effects log; bit 2: extended Get Log Page data (NUMDU, LPO). */
    public static final int LPA_EFFECTS = 1 << 1;
    public static final int LPA_EXTENDED = 1 << 2;

    // Identify Namespace (NVM command set)
    public static final int NS_NSZE = 0;
    public static final int NS_NCAP = 8;
    public static final int NS_NUSE = 16;
    public static final int NS_NSFEAT = 24;
    public static final int NS_NLBAF = 25;
    public static final int NS_FLBAS = 26;
    public static final int NS_NMIC = 30;
    public static final int NS_DLFEAT = 33;
    public static final int NS_NACWU = 38;
    public static final int NS_ANAGRPID = 92;
    /** NSATTR bit 0: the namespace is write protected. */
    public static final int NS_NSATTR = 99;
    public static final int NS_NGUID = 104;
    public static final int NS_EUI64 = 120;
    public static final int NS_LBAF0 = 128;       // MS u16, LBADS u8 (log2 of LBA size), RP u8
    /** DLFEAT: deallocated blocks read as zeroes (2:0 = 001b), Write Zeroes may deallocate (bit 3). */
    public static final int DLFEAT_READS_ZEROES_WZ_DEALLOCATES = 0x1 | 0x8;

    // Namespace identification descriptors (CNS 03h): NIDT u8, NIDL u8, 2 reserved, then NIDL bytes.
    public static final int NIDT_EUI64 = 1;
    public static final int NIDT_NGUID = 2;
    public static final int NIDT_UUID = 3;
    public static final int NIDT_CSI = 4;

    private Identify() {
    }
}
