package io.vvolgate.control;

import io.vvolgate.gateway.host.NvmeTcpHost;
import io.vvolgate.gateway.host.NvmeTcpQueue;
import io.vvolgate.gateway.nvme.Identify;
import io.vvolgate.gateway.nvme.Opcodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MainTest {

    @TempDir
    Path cwd;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private boolean served;

    private int run(String... args) {
        Main main = new Main(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                cwd, appliance -> {
                    served = true;
                    appliance.close();
                    return Main.EXIT_OK;
                });
        return main.run(args);
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private void assertNoStackTrace() {
        assertFalse(err().contains("\tat ") || err().contains("Exception"), err());
    }

    private Path writeConfig(String listenerPort, String extra) throws IOException {
        return Files.writeString(cwd.resolve("vvolgate.toml"), """
                state_dir = "state"
                [api]
                port = 0
                [[listener]]
                address = "127.0.0.1"
                port = %s
                [[listener]]
                address = "127.0.0.1"
                port = 0
                kind = "discovery"
                [[subsystem]]
                nqn = "nqn.2026-11.io.vvolgate:test"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "memory"
                size = "16MiB"
                %s
                """.formatted(listenerPort, extra));
    }

    @Test
    void helpAndVersionSucceed() {
        assertEquals(0, run("help"));
        assertTrue(out().startsWith("usage: vvolgate serve [--config FILE]"), out());
        assertTrue(out().contains("in ./var\n") && out().contains("under the current directory"), out());
        out.reset();
        assertEquals(0, run("--version"));
        assertTrue(out().matches("vvolgate \\S.*\\R"), out());
    }

    @Test
    void unknownCommandsAndArgumentsAreUsageErrors() {
        assertEquals(2, run("frobnicate"));
        assertTrue(err().startsWith("vvolgate: error: unknown command \"frobnicate\"\nusage: "), err());
        err.reset();
        assertEquals(2, run());
        assertTrue(err().startsWith("vvolgate: error: no command given\nusage: "), err());
        err.reset();
        assertEquals(2, run("serve", "--verbose"));
        assertTrue(err().startsWith("vvolgate: error: unknown argument \"--verbose\" for serve\n"), err());
        err.reset();
        assertEquals(2, run("serve", "--config"));
        assertTrue(err().startsWith("vvolgate: error: --config needs a file name\n"), err());
        err.reset();
        assertEquals(2, run("serve", "--config", "a.toml", "--config=b.toml"));
        assertTrue(err().startsWith("vvolgate: error: --config given twice\n"), err());
        assertFalse(served);
    }

    @Test
    void aBadConfigExitsWithTwoNamingFileAndLine() throws IOException {
        writeConfig("4420", "blok_size = 4096");
        assertEquals(2, run("serve", "--config", "vvolgate.toml"));
        assertEquals("vvolgate: error: vvolgate.toml:17: unknown key \"blok_size\" in [[subsystem.namespace]] (did you mean \"block_size\"?)\n",
                err());
        assertEquals("", out());
        assertFalse(Files.exists(cwd.resolve("state")), "nothing is created for a refused config");
    }

    @Test
    void aMissingConfigExitsWithTwo() {
        assertEquals(2, run("serve", "--config=missing.toml"));
        assertEquals("vvolgate: error: missing.toml: no such file\n", err());
    }

    @Test
    void aStateDirectoryInUseIsAStartFailure() throws IOException {
        Path config = writeConfig("0", "");
        Path state = Files.createDirectories(cwd.resolve("state"));
        try (FileChannel ch = FileChannel.open(state.resolve(Appliance.LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = ch.lock()) {
            assertTrue(lock.isValid());
            assertEquals(1, run("serve", "--config", config.toString()));
        }
        assertEquals("vvolgate: error: state directory " + state + " is in use by another vvolgate (it holds "
                + state.resolve(Appliance.LOCK_FILE) + ")\n", err());
    }

    @Test
    void aStartFailureIsOneLineWithoutAStackTrace() throws IOException {
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            writeConfig(Integer.toString(busy.getLocalPort()), "");
            assertEquals(1, run("serve", "--config", "vvolgate.toml"));
        }
        assertTrue(err().startsWith("vvolgate: error: "), err());
        assertEquals(1, err().lines().count(), err());
        assertNoStackTrace();
        assertFalse(out().contains("vvolgate: ready"), out());
        assertFalse(served);
    }

    @Test
    void serveStartsPrintsTheRigLinesAndStops() throws IOException {
        writeConfig("0", "");
        int code = run("serve", "--config", "vvolgate.toml");
        assertEquals(0, code, err());
        assertTrue(served);
        List<String> lines = out().lines().toList();
        assertEquals("vvolgate: subsystem nqn.2026-11.io.vvolgate:test namespaces=1", lines.get(0));
        assertTrue(lines.get(1).matches("vvolgate: listening 127\\.0\\.0\\.1:[1-9]\\d* nvme-tcp io"), lines.get(1));
        assertTrue(lines.get(2).matches("vvolgate: listening 127\\.0\\.0\\.1:[1-9]\\d* nvme-tcp discovery"), lines.get(2));
        assertTrue(lines.get(3).matches("vvolgate: api http://127\\.0\\.0\\.1:[1-9]\\d*"), lines.get(3));
        assertTrue(lines.get(4).startsWith("vvolgate: admin password "), "a first start prints the admin password once: " + lines.get(4));
        assertEquals("vvolgate: ready", lines.get(5));
        assertTrue(Files.exists(cwd.resolve("state/identity.toml")));
    }
    /** What a host saw of namespace 1 while one serve ran. */
    private record Seen(byte[] data, byte[] nguid, byte[] descriptorNguid, java.util.UUID descriptorUuid, long blocks) {
    }

    /** Runs serve on {@code config}; while it runs, a host writes {@code write} (if any) at LBA 100 and reads 8 blocks back. */
    private Seen serveAndVisit(byte[] write) {
        Seen[] seen = new Seen[1];
        Main main = new Main(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                cwd, appliance -> {
                    try (appliance; NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", appliance.listeners().getFirst().port(),
                            "nqn.2026-11.io.vvolgate:test", NvmeTcpHost.DEFAULT_HOST_NQN, 1, 32, false)) {
                        if (write != null) {
                            assertTrue(host.write(0, 1, 100, write, 512).ok());
                            assertTrue(host.io(0).execute(NvmeTcpQueue.sqe(Opcodes.IO_FLUSH, 1), null, 0).ok());
                        }
                        byte[] data = host.read(0, 1, 100, 8, 512).data();
                        NvmeTcpQueue.Completion ns = host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE, 1), null, 4096);
                        assertTrue(ns.ok());
                        ByteBuffer id = ByteBuffer.wrap(ns.data()).order(ByteOrder.LITTLE_ENDIAN);
                        byte[] nguid = java.util.Arrays.copyOfRange(ns.data(), Identify.NS_NGUID, Identify.NS_NGUID + 16);
                        NvmeTcpQueue.Completion desc = host.admin().execute(
                                NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE_DESCRIPTORS, 1), null, 4096);
                        assertTrue(desc.ok());
                        byte[] descNguid = null;
                        java.util.UUID descUuid = null;
                        ByteBuffer d = ByteBuffer.wrap(desc.data());
                        while (d.remaining() >= 4 && d.get(d.position()) != 0) {
                            int type = d.get() & 0xFF;
                            int length = d.get() & 0xFF;
                            d.getShort();
                            byte[] value = new byte[length];
                            d.get(value);
                            if (type == Identify.NIDT_NGUID) {
                                descNguid = value;
                            } else if (type == Identify.NIDT_UUID) {
                                ByteBuffer u = ByteBuffer.wrap(value);
                                descUuid = new java.util.UUID(u.getLong(), u.getLong());
                            }
                        }
                        seen[0] = new Seen(data, nguid, descNguid, descUuid, id.getLong(0));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    return Main.EXIT_OK;
                });
        assertEquals(Main.EXIT_OK, main.run(new String[] {"serve", "--config", "vvolgate.toml"}), err());
        return seen[0];
    }

    private void writeVolumeConfig(String volumeSize) throws IOException {
        Files.writeString(cwd.resolve("vvolgate.toml"), """
                state_dir = "state"
                [api]
                port = 0
                [[listener]]
                address = "127.0.0.1"
                port = 0
                [[container]]
                name = "pool"
                devices = ["pool.img"]
                size = "64MiB"
                [[subsystem]]
                nqn = "nqn.2026-11.io.vvolgate:test"
                allow_any_host = true
                [[subsystem.namespace]]
                backend = "volume"
                container = "pool"
                volume = "vm1"
                size = "%s"
                """.formatted(volumeSize));
    }

    @Test
    void aContainerVolumeKeepsItsDataAndItsIdentityAcrossRestarts() throws IOException {
        writeVolumeConfig("8MiB");
        byte[] data = new byte[8 * 512];
        new java.util.Random(42).nextBytes(data);
        Seen first = serveAndVisit(data);
        String firstOut = out();
        assertTrue(firstOut.lines().anyMatch(l -> l.matches("vvolgate: container pool [0-9a-f-]{36} formatted")), firstOut);
        assertTrue(Files.size(cwd.resolve("state/pool.img")) == 64L << 20, "the image is created at the container's size");
        assertArrayEquals(data, first.data());
        assertEquals((8L << 20) / 512, first.blocks());
        assertArrayEquals(first.nguid(), first.descriptorNguid());
        String uuid = firstOut.lines().filter(l -> l.startsWith("vvolgate: container pool ")).findFirst().orElseThrow().split(" ")[3];

        // The identity follows the volume, not identity.toml: without the file the store hands out new values.
        Files.delete(cwd.resolve("state/identity.toml"));
        out.reset();
        writeVolumeConfig("16MiB");
        Seen second = serveAndVisit(null);
        List<String> lines = out().lines().toList();
        assertTrue(lines.getFirst().matches("vvolgate: container pool " + uuid + " recovered in \\d+ ms \\(1 volumes\\)"), lines.getFirst());
        assertEquals("vvolgate: subsystem nqn.2026-11.io.vvolgate:test namespaces=1", lines.get(1));
        assertArrayEquals(data, second.data());
        assertArrayEquals(first.nguid(), second.nguid());
        assertArrayEquals(first.nguid(), second.descriptorNguid());
        assertEquals(first.descriptorUuid(), second.descriptorUuid());
        assertEquals((16L << 20) / 512, second.blocks(), "a larger size grows the volume");

        out.reset();
        writeVolumeConfig("4MiB");
        assertEquals(Main.EXIT_USAGE, run("serve", "--config", "vvolgate.toml"));
        assertEquals("vvolgate: error: vvolgate.toml:18: namespace 1 of subsystem nqn.2026-11.io.vvolgate:test: volume \"vm1\" of"
                + " container pool holds 16777216 bytes; size 4194304 would shrink it, which is refused because it would lose data"
                + " (give at least 16777216)\n", err());
        assertFalse(served);
        assertFalse(out().contains("vvolgate: ready"), out());
    }

    @Test
    void aMirroredContainerSurvivesLosingALeg() throws IOException {
        writeVolumeConfig("8MiB");
        Path config = cwd.resolve("vvolgate.toml");
        Files.writeString(config, Files.readString(config).replace("devices = [\"pool.img\"]", "devices = [\"a.img\", \"b.img\"]"));
        byte[] data = new byte[8 * 512];
        new java.util.Random(7).nextBytes(data);
        Seen first = serveAndVisit(data);
        assertTrue(out().contains(" formatted"), out());
        // Leg a is lost and replaced by a blank image; the container comes back from leg b.
        Files.delete(cwd.resolve("state/a.img"));
        out.reset();
        Seen second = serveAndVisit(null);
        assertTrue(out().lines().anyMatch(l -> l.matches("vvolgate: container pool \\S+ recovered in \\d+ ms \\(1 volumes\\)")), out());
        assertArrayEquals(data, second.data());
        assertArrayEquals(first.nguid(), second.nguid());
        assertEquals(Files.size(cwd.resolve("state/b.img")), Files.size(cwd.resolve("state/a.img")), "the replacement has its partner's size");
    }

    @Test
    void aContainerWithoutSizeNeedsAnExistingImage() throws IOException {
        writeVolumeConfig("8MiB");
        Files.writeString(cwd.resolve("vvolgate.toml"), Files.readString(cwd.resolve("vvolgate.toml")).replace("size = \"64MiB\"\n", ""));
        assertEquals(Main.EXIT_USAGE, run("serve", "--config", "vvolgate.toml"));
        assertEquals("vvolgate: error: vvolgate.toml:7: container \"pool\" has no size and its image " + cwd.resolve("state/pool.img")
                + " does not exist (add e.g. size = \"64GiB\" to create it, or correct the path)\n", err());
        assertNoStackTrace();
    }

    @Test
    void aDeviceHoldingSomethingElseIsNotFormatted() throws IOException {
        writeVolumeConfig("8MiB");
        Files.createDirectories(cwd.resolve("state"));
        byte[] junk = new byte[64 << 20];
        java.util.Arrays.fill(junk, 0, 4096, (byte) 0x5a);
        Files.write(cwd.resolve("state/pool.img"), junk);
        assertEquals(Main.EXIT_START_FAILED, run("serve", "--config", "vvolgate.toml"));
        assertTrue(err().startsWith("vvolgate: error: cannot open container pool on " + cwd.resolve("state/pool.img") + ": "), err());
        assertTrue(err().contains("it is not formatted; check it with: vvolgate fsck"), err());
        assertEquals(1, err().lines().count(), err());
        assertNoStackTrace();
        byte[] after = Files.readAllBytes(cwd.resolve("state/pool.img"));
        assertEquals(0x5a, after[0], "nothing was written over it");
    }

    @Test
    void fsckChecksAMirroredContainerFromOneLegOrComparesBoth() throws IOException {
        // The layout of the embedded default: a container on a mirrored pair of sparse images.
        writeVolumeConfig("8MiB");
        Path config = cwd.resolve("vvolgate.toml");
        Files.writeString(config, Files.readString(config).replace("devices = [\"pool.img\"]", "devices = [\"a.img\", \"b.img\"]"));
        byte[] data = new byte[8 * 512];
        new java.util.Random(8).nextBytes(data);
        serveAndVisit(data);
        out.reset();
        assertEquals(Main.EXIT_OK, run("fsck", "state/a.img", "state/b.img"), out() + err());
        assertTrue(out().contains("vvolgate fsck: info: " + cwd.resolve("state/a.img") + ": leg 0 of mirror "), out());
        assertTrue(out().contains(": leg 1 of mirror "), out());
        assertTrue(out().contains("1 volumes and snapshots"), out());
        assertTrue(out().contains("info: the legs agree: "), out());
        assertTrue(out().contains("vvolgate fsck: clean"), out());
        out.reset();
        assertEquals(Main.EXIT_OK, run("fsck", "--read-data", "state/b.img"), out() + err());
        assertTrue(out().contains("leg 0 (recorded IN_SYNC) was not given"), out());
        assertTrue(out().contains("1 volumes and snapshots"), out());

        // Leg b's copy of the metadata is damaged behind the mirror's back: only the comparison can see it.
        try (FileChannel ch = FileChannel.open(cwd.resolve("state/b.img"), StandardOpenOption.WRITE)) {
            byte[] junk = new byte[4096];
            java.util.Arrays.fill(junk, (byte) 0x5a);
            ch.write(java.nio.ByteBuffer.wrap(junk), (1 << 20) + 8192); // the first metadata log block
        }
        out.reset();
        assertEquals(1, run("fsck", "state/a.img", "state/b.img"));
        assertTrue(out().contains("error: the legs differ where the bitmap says they agree"), out());
        assertTrue(out().contains("vvolgate fsck: errors found"), out());
        assertEquals(Main.EXIT_USAGE, run("fsck", "state/a.img", "state/b.img", "state/c.img"));
        assertNoStackTrace();
    }

    @Test
    void fsckReportsACleanContainerAndRepairsATornSuperblockOnlyWhenAsked() throws IOException {
        Path image = cwd.resolve("pool.img");
        try (io.vvolgate.gateway.device.FileBlockDevice dev = io.vvolgate.gateway.device.FileBlockDevice.open(image, 64L << 20, 512)) {
            io.vvolgate.gateway.volume.Container c = io.vvolgate.gateway.volume.Container.format(dev, java.util.UUID.randomUUID(), 65536);
            c.createVolume("vm1", io.vvolgate.gateway.volume.VolumeType.DATA, 8L << 20, 512, new byte[16], java.util.UUID.randomUUID());
            c.close();
        }
        assertEquals(Main.EXIT_OK, run("fsck", "pool.img"), err());
        assertTrue(out().contains("vvolgate fsck: clean"), out());
        assertTrue(out().contains("1 volumes and snapshots"), out());

        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.allocate(512), 4096); // tear superblock copy B
        }
        out.reset();
        assertEquals(1, run("fsck", "pool.img"));
        assertTrue(out().contains("warning: superblock: copy B is damaged"), out());
        out.reset();
        assertEquals(Main.EXIT_OK, run("fsck", "--repair", "pool.img"));
        assertTrue(out().contains("(repairs made)"), out());
        out.reset();
        assertEquals(Main.EXIT_OK, run("fsck", "pool.img"));

        Files.write(cwd.resolve("blank.img"), new byte[1 << 20]);
        out.reset();
        assertEquals(1, run("fsck", "blank.img"));
        assertTrue(out().contains("error: no valid superblock"), out());
        assertEquals(Main.EXIT_USAGE, run("fsck"));
        assertNoStackTrace();
    }
    @Test
    void snapshotAndCloneNamespacesAreTakenAtStartAndBehaveAsSuch() throws IOException {
        writeVolumeConfig("8MiB");
        byte[] before = new byte[4096];
        new java.util.Random(5).nextBytes(before);
        serveAndVisit(before);
        Files.writeString(cwd.resolve("vvolgate.toml"), Files.readString(cwd.resolve("vvolgate.toml")) + """
                [[subsystem.namespace]]
                backend = "volume"
                container = "pool"
                volume = "vm1-snap"
                snapshot_of = "vm1"
                size = "8MiB"
                [[subsystem.namespace]]
                backend = "volume"
                container = "pool"
                volume = "vm1-clone"
                clone_of = "vm1-snap"
                size = "8MiB"
                """);
        byte[] after = new byte[4096];
        new java.util.Random(6).nextBytes(after);
        Main main = new Main(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                cwd, appliance -> {
                    try (appliance; NvmeTcpHost host = NvmeTcpHost.connect("127.0.0.1", appliance.listeners().getFirst().port(),
                            "nqn.2026-11.io.vvolgate:test", NvmeTcpHost.DEFAULT_HOST_NQN, 1, 32, false)) {
                        assertArrayEquals(before, host.read(0, 2, 100, 8, 512).data(), "the snapshot froze what the volume held");
                        NvmeTcpQueue.Completion snapId = host.admin().execute(NvmeTcpHost.identifySqe(Identify.CNS_NAMESPACE, 2), null, 4096);
                        assertEquals(1, snapId.data()[Identify.NS_NSATTR] & 1, "Identify Namespace says write protected");
                        assertTrue(host.write(0, 1, 100, after, 512).ok());
                        assertArrayEquals(after, host.read(0, 1, 100, 8, 512).data());
                        assertArrayEquals(before, host.read(0, 2, 100, 8, 512).data(), "the snapshot does not follow the volume");
                        assertEquals(io.vvolgate.gateway.nvme.Status.NAMESPACE_WRITE_PROTECTED, host.write(0, 2, 100, after, 512).status());
                        assertArrayEquals(before, host.read(0, 3, 100, 8, 512).data(), "the clone starts as the snapshot");
                        assertTrue(host.write(0, 3, 200, after, 512).ok(), "the clone is writable");
                        assertArrayEquals(after, host.read(0, 3, 200, 8, 512).data());
                        assertArrayEquals(new byte[4096], host.read(0, 2, 200, 8, 512).data());
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    return Main.EXIT_OK;
                });
        assertEquals(Main.EXIT_OK, main.run(new String[] {"serve", "--config", "vvolgate.toml"}), err());
        // Served again, the snapshot and the clone are there, not taken anew.
        Seen again = serveAndVisit(null);
        assertArrayEquals(after, again.data());
    }
}
