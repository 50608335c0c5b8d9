package io.vvolgate.gateway.transport.tcp;

/**
 * Limits of the NVMe/TCP transport, validated once when built.
 *
 * @param maxH2CData               MAXH2CDATA sent in ICResp: the largest H2CData PDU data (and R2T length)
 * @param inCapsuleDataSize        in-capsule data accepted on admin and I/O queues (IOCCSZ = 4 + this / 16)
 * @param maxDataTransferSize      largest data of one command; larger ones complete with Data SGL Length Invalid
 * @param c2hChunkSize             data bytes per C2HData PDU of a read
 * @param maxCommandsPerConnection request pool bound per connection (NVMe queues hold at most 1024 entries)
 * @param maxR2tPerCommand         cap on the host's MAXR2T (outstanding R2Ts per command)
 * @param writeBufferLowWaterMark  outbound bytes below which a connection reads new commands again
 * @param writeBufferHighWaterMark outbound bytes above which a connection stops reading new commands
 * @param connectTimeoutMillis     a connection that has not completed ICReq and a Fabrics Connect by then is
 *                                 closed, so silent sockets cannot pile up (SPDK uses 30 s as well)
 */
public record TcpTransportOptions(int maxH2CData, int inCapsuleDataSize, int maxDataTransferSize, int c2hChunkSize,
                                  int maxCommandsPerConnection, int maxR2tPerCommand,
                                  int writeBufferLowWaterMark, int writeBufferHighWaterMark, int connectTimeoutMillis) {
    public static final int DEFAULT_MAX_H2C_DATA = 128 * 1024;
    public static final int DEFAULT_IN_CAPSULE_DATA_SIZE = 8192;
    public static final int DEFAULT_MAX_DATA_TRANSFER_SIZE = 1024 * 1024;
    public static final int DEFAULT_C2H_CHUNK_SIZE = 128 * 1024;
    /** 1024 queue entries plus a few for commands the host sends while its last completions are in flight. */
    public static final int DEFAULT_MAX_COMMANDS_PER_CONNECTION = 1024 + 8;
    public static final int DEFAULT_MAX_R2T_PER_COMMAND = 16;
    public static final int DEFAULT_WRITE_BUFFER_LOW = 1024 * 1024;
    public static final int DEFAULT_WRITE_BUFFER_HIGH = 4 * 1024 * 1024;
    public static final int DEFAULT_CONNECT_TIMEOUT_MILLIS = 30_000;

    public TcpTransportOptions {
        if (maxH2CData < 4096 || (maxH2CData & 3) != 0) {
            throw new IllegalArgumentException("maxH2CData must be >= 4096 and a multiple of 4: " + maxH2CData);
        }
        if (inCapsuleDataSize < 1024 || (inCapsuleDataSize & 15) != 0) {
            // The Linux host puts the 1024-byte Connect data in the capsule; IOCCSZ counts 16-byte units.
            throw new IllegalArgumentException("inCapsuleDataSize must be >= 1024 and a multiple of 16: " + inCapsuleDataSize);
        }
        if (maxDataTransferSize < 4096 || Integer.bitCount(maxDataTransferSize) != 1) {
            throw new IllegalArgumentException("maxDataTransferSize must be a power of two >= 4096: " + maxDataTransferSize);
        }
        if (c2hChunkSize < 4096 || (c2hChunkSize & 3) != 0) {
            throw new IllegalArgumentException("c2hChunkSize must be >= 4096 and a multiple of 4: " + c2hChunkSize);
        }
        if (maxCommandsPerConnection < 2 || maxCommandsPerConnection > 65535) {
            // TTAG is 16 bits and is the pool index.
            throw new IllegalArgumentException("maxCommandsPerConnection must be in 2..65535: " + maxCommandsPerConnection);
        }
        if (maxR2tPerCommand < 1) {
            throw new IllegalArgumentException("maxR2tPerCommand must be >= 1: " + maxR2tPerCommand);
        }
        if (writeBufferLowWaterMark < 0 || writeBufferHighWaterMark < writeBufferLowWaterMark) {
            throw new IllegalArgumentException("write buffer water marks must satisfy 0 <= low <= high");
        }
        if (connectTimeoutMillis < 1) {
            throw new IllegalArgumentException("connectTimeoutMillis must be >= 1: " + connectTimeoutMillis);
        }
    }

    public static TcpTransportOptions defaults() {
        return new TcpTransportOptions(DEFAULT_MAX_H2C_DATA, DEFAULT_IN_CAPSULE_DATA_SIZE, DEFAULT_MAX_DATA_TRANSFER_SIZE,
                DEFAULT_C2H_CHUNK_SIZE, DEFAULT_MAX_COMMANDS_PER_CONNECTION, DEFAULT_MAX_R2T_PER_COMMAND,
                DEFAULT_WRITE_BUFFER_LOW, DEFAULT_WRITE_BUFFER_HIGH, DEFAULT_CONNECT_TIMEOUT_MILLIS);
    }

    public TcpTransportOptions withMaxCommandsPerConnection(int n) {
        return new TcpTransportOptions(maxH2CData, inCapsuleDataSize, maxDataTransferSize, c2hChunkSize, n,
                maxR2tPerCommand, writeBufferLowWaterMark, writeBufferHighWaterMark, connectTimeoutMillis);
    }

    public TcpTransportOptions withC2hChunkSize(int n) {
        return new TcpTransportOptions(maxH2CData, inCapsuleDataSize, maxDataTransferSize, n, maxCommandsPerConnection,
                maxR2tPerCommand, writeBufferLowWaterMark, writeBufferHighWaterMark, connectTimeoutMillis);
    }

    public TcpTransportOptions withMaxH2CData(int n) {
        return new TcpTransportOptions(n, inCapsuleDataSize, maxDataTransferSize, c2hChunkSize, maxCommandsPerConnection,
                maxR2tPerCommand, writeBufferLowWaterMark, writeBufferHighWaterMark, connectTimeoutMillis);
    }

    public TcpTransportOptions withConnectTimeoutMillis(int n) {
        return new TcpTransportOptions(maxH2CData, inCapsuleDataSize, maxDataTransferSize, c2hChunkSize, maxCommandsPerConnection,
                maxR2tPerCommand, writeBufferLowWaterMark, writeBufferHighWaterMark, n);
    }

    /** Largest CapsuleCmd PDU we accept: header, digests and full in-capsule data. */
    int maxCapsuleCmdLength() {
        return CapsuleCmdPdu.HEADER_LENGTH + 2 * PduHeader.DIGEST_LENGTH + inCapsuleDataSize;
    }

    /** Largest H2CData PDU we accept: header, digests and MAXH2CDATA bytes of data. */
    int maxH2CDataPduLength() {
        return H2CDataPdu.HEADER_LENGTH + 2 * PduHeader.DIGEST_LENGTH + maxH2CData;
    }
}
