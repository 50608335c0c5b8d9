package io.vvolgate.gateway.volume;

/** vVol types, as VASA names them: what the volume holds for its VM. */
public enum VolumeType {
    CONFIG, DATA, SWAP, MEMORY, OTHER;

    static VolumeType of(int code) {
        VolumeType[] all = values();
        if (code < 0 || code >= all.length) {
            throw new VolumeException("unknown volume type code " + code);
        }
        return all[code];
    }
}
