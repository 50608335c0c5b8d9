package io.vvolgate.gateway.nvme;

/** Feature identifiers for Get/Set Features (CDW10 bits 7:0) that the target supports. */
public final class Features {
    public static final int TEMPERATURE_THRESHOLD = 0x04;
    public static final int VOLATILE_WRITE_CACHE = 0x06;
    public static final int NUMBER_OF_QUEUES = 0x07;
    public static final int ASYNC_EVENT_CONFIGURATION = 0x0B;
    public static final int KEEP_ALIVE_TIMER = 0x0F;

    /** Set Features CDW10 bit 31: save the value across power cycles. */
    public static final int SAVE = 1 << 31;
    /** Get Features SEL (CDW10 bits 10:8): 0 current, 1 default, 2 saved, 3 supported capabilities. */
    public static final int SEL_SHIFT = 8;

    private Features() {
    }
}
