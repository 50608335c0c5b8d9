package io.vvolgate.gateway.device;

/**
 * What a device knows of its own health, for the SMART / Health Information log page.
 *
 * @param temperatureKelvin composite temperature, 0 if unknown
 * @param availableSparePercent 0..100
 * @param percentageUsed endurance used, 0..255
 * @param mediaErrors unrecovered data-integrity errors seen
 * @param powerOnHours hours the device has been powered on, 0 if unknown
 */
public record DeviceHealth(int temperatureKelvin, int availableSparePercent, int percentageUsed,
                           long mediaErrors, long powerOnHours) {
    public static final DeviceHealth UNKNOWN = new DeviceHealth(0, 100, 0, 0, 0);
}
