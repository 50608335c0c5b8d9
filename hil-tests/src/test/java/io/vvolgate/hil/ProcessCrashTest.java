package io.vvolgate.hil;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.Opcodes;
import io.vvolgate.gateway.testing.DurabilityOracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The appliance as its own process, serving a volume of a storage container; a host writes (some with
 * FUA, some followed by Flush) and records what it was told is durable; the appliance is killed with
 * SIGKILL at a random instant, started again, and everything durable must read back — and nothing may
 * read as data nobody wrote there. Fifty cycles.
 */
class ProcessCrashTest {
    static final String NQN = "nqn.2026-11.io.vvolgate:crash";
    static final int UNIT = 4096;
    /** The whole volume: big enough that writes keep landing on clusters never written (map changes to lose). */
    static final long REGION = 64L << 20;

    @Test
    @Timeout(900)
    void whatWasAcknowledgedAsDurableSurvivesSigkill() throws Exception {
        int cycles = Integer.getInteger("vvolgate.crash.cycles", 50);
        long seed = Long.getLong("vvolgate.crash.seed", System.nanoTime());
        Path dir = Files.createDirectories(Path.of("target", "process-crash-runs",
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS"))).toAbsolutePath());
        Path config = Files.writeString(dir.resolve("vvolgate.toml"), """
                state_dir = "state"
                [api]
                port = 0
                [[listener]]
                address = "127.0.0.1"
                port = 0
                kind = "io"
                [[container]]
                name = "pool"
                devices = ["pool.img"]
                size = "256MiB"
                cluster_size = "64KiB"
                [[subsystem]]
                nqn = "%s"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "volume"
                container = "pool"
                volume = "crash-vol"
                size = "64MiB"
                block_size = 512
                """.formatted(NQN));
        DurabilityOracle oracle = new DurabilityOracle(UNIT);
        Random rnd = new Random(seed);
        long version = 0;
        long writesAcknowledged = 0;
        for (int cycle = 0; cycle < cycles; cycle++) {
            String where = "cycle " + cycle + " (seed " + seed + ", rerun with -Dvvolgate.crash.seed=" + seed + "; logs in " + dir + ")";
            ApplianceProcess appliance = ApplianceProcess.start(config, dir.resolve("appliance-" + cycle + ".log"), Duration.ofSeconds(90));
            try {
                int port = appliance.port("io");
                try (NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", port, NQN, NvmeTcpHost.DEFAULT_HOST_NQN, 1, 64, false)) {
                    DurabilityOracle.BlockReader reader = (offset, length) -> read(host, offset, length, where);
                    List<String> bad = oracle.check(reader);
                    if (!bad.isEmpty()) {
                        fail(where + ": " + bad.size() + " units violate durability after the kill, first: " + bad.getFirst());
                    }
                    oracle.rebase(reader);
                    // Write for a random while, then the kill comes without warning, from another thread.
                    long killAfterMillis = 100 + rnd.nextInt(600);
                    CompletableFuture<Void> killer = CompletableFuture.runAsync(() -> {
                        try {
                            TimeUnit.MILLISECONDS.sleep(killAfterMillis); // the crash instant itself is what is random
                            appliance.kill();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
                    while (!killer.isDone()) {
                        int op = rnd.nextInt(10);
                        if (op < 8) {
                            long offset = (long) UNIT * rnd.nextInt((int) (REGION / UNIT) - 8);
                            int length = UNIT * (1 + rnd.nextInt(rnd.nextBoolean() ? 1 : 8));
                            byte[] data = pattern(length, ++version);
                            boolean fua = rnd.nextInt(10) == 0;
                            DurabilityOracle.Write w = oracle.submitted(offset, data);
                            if (!write(host, offset, data, fua)) {
                                w.failed();
                                break;
                            }
                            w.completed(fua);
                            writesAcknowledged++;
                        } else {
                            DurabilityOracle.Flush f = oracle.flushSubmitted();
                            if (!flush(host)) {
                                f.failed();
                                break;
                            }
                            f.completed();
                        }
                    }
                    killer.join();
                }
            } finally {
                appliance.close();
            }
        }
        assertTrue(writesAcknowledged > cycles, "the host got writes through: " + writesAcknowledged);
    }

    static byte[] pattern(int length, long version) {
        byte[] b = new byte[length];
        new Random(version).nextBytes(b);
        return b;
    }

    static boolean write(NvmeTcpHost host, long offset, byte[] data, boolean fua) {
        ByteBuffer sqe = NvmeTcpHost.rwSqe(Opcodes.IO_WRITE, 1, offset / 512, data.length / 512);
        if (fua) {
            sqe.putInt(48, sqe.getInt(48) | (1 << 30));
        }
        try {
            NvmeTcpQueue.Completion c = host.io(0).execute(sqe, data, 0);
            return c.ok();
        } catch (IOException e) {
            return false; // the appliance died under us
        }
    }

    static boolean flush(NvmeTcpHost host) {
        try {
            return host.io(0).execute(NvmeTcpQueue.sqe(Opcodes.IO_FLUSH, 1), null, 0).ok();
        } catch (IOException e) {
            return false;
        }
    }

    static byte[] read(NvmeTcpHost host, long offset, int length, String where) {
        byte[] out = new byte[length];
        int chunk = 128 * 1024;
        for (int done = 0; done < length; done += chunk) {
            int n = Math.min(chunk, length - done);
            try {
                NvmeTcpQueue.Completion c = host.read(0, 1, (offset + done) / 512, n / 512, 512);
                if (!c.ok()) {
                    throw new AssertionError(where + ": read at " + (offset + done) + " failed with status 0x" + Integer.toHexString(c.status()));
                }
                System.arraycopy(c.data(), 0, out, done, n);
            } catch (IOException e) {
                throw new AssertionError(where + ": read failed: " + e.getMessage(), e);
            }
        }
        return out;
    }
}
