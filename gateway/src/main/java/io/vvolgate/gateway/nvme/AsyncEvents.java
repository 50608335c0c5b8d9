package io.vvolgate.gateway.nvme;

/**
 * Asynchronous event completion DW0: event type (2:0), event information (15:8), log page to read (23:16);
 * and the Asynchronous Event Configuration bits (Set Features 0Bh) that enable the notices.
 */
public final class AsyncEvents {
    public static final int TYPE_NOTICE = 2;
    public static final int INFO_NAMESPACE_ATTRIBUTE_CHANGED = 0x00;
    public static final int INFO_ANA_CHANGE = 0x03;
    public static final int INFO_DISCOVERY_LOG_CHANGE = 0xF0;

    public static final int CONFIG_NAMESPACE_ATTRIBUTE = 1 << 8;
    public static final int CONFIG_ANA_CHANGE = 1 << 11;
    public static final int CONFIG_DISCOVERY_LOG_CHANGE = 1 << 31;

    private AsyncEvents() {
    }

    public static int notice(int info, int logPage) {
        return TYPE_NOTICE | (info << 8) | (logPage << 16);
    }
}
