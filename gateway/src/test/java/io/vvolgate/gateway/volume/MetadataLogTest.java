package io.vvolgate.gateway.volume;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vvolgate.gateway.device.IoCompletion;
import io.vvolgate.gateway.device.MemoryBlockDevice;
import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class MetadataLogTest {
    static final UUID ID = UUID.fromString("0f0f0f0f-0000-4000-8000-000000000001");
    static final long REGION = 8192;
    final MemoryBlockDevice device = new MemoryBlockDevice(1 << 20, 512);

    @AfterEach
    void close() {
        device.close();
    }

    record Rec(long sequence, int type, String text) {
    }

    static ByteBuf text(String s) {
        return Unpooled.wrappedBuffer(s.getBytes(StandardCharsets.UTF_8));
    }

    List<Rec> replay(MetadataLog log, long head, long seq) {
        List<Rec> out = new ArrayList<>();
        log.replay(head, seq, (s, type, payload) -> out.add(new Rec(s, type, payload.toString(StandardCharsets.UTF_8))));
        return out;
    }

    MetadataLog fresh(long blocks) {
        MetadataLog log = new MetadataLog(device, REGION, blocks * MetadataLog.BLOCK_SIZE, ID);
        log.start(0, 1);
        return log;
    }

    void corruptBlock(long indexInRegion) {
        ByteBuf junk = Unpooled.buffer(512).writeZero(512);
        junk.setByte(100, 0x5A);
        device.write(REGION + indexInRegion * MetadataLog.BLOCK_SIZE, 512, junk, false, null, (a, e) -> assertEquals(IoCompletion.OK, e));
    }

    @Test
    void committedRecordsReplayInOrder() {
        MetadataLog log = fresh(16);
        log.append(1, text("create vol-1"));
        log.append(2, text("map 0 -> 7"));
        log.commitAndWait();
        for (int i = 0; i < 300; i++) {
            log.append(3, text("record " + i + " ".repeat(40)));
        }
        log.commitAndWait();

        MetadataLog again = new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID);
        List<Rec> recs = replay(again, 0, 1);
        assertEquals(302, recs.size());
        assertEquals(new Rec(1, 1, "create vol-1"), recs.get(0));
        assertEquals("record 299" + " ".repeat(40), recs.get(301).text());
        assertEquals(1, recs.get(1).sequence(), "both first records share block 1");
    }

    @Test
    void aBlankRegionReplaysNothingAndAnotherContainersLogIsIgnored() {
        MetadataLog other = new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, UUID.randomUUID());
        other.start(0, 1);
        other.append(1, text("not ours"));
        other.commitAndWait();
        MetadataLog.Position p = new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID).replay(0, 1, (s, t, b) -> {
            throw new AssertionError("replayed a foreign record");
        });
        assertEquals(0, p.blocksReplayed());
        assertEquals(1, p.epoch());
    }

    @Test
    void replayStopsAtATornBlockAndAStaleBlockBehindTheHoleIsNeverReplayed() {
        MetadataLog log = fresh(16);
        for (int b = 0; b < 3; b++) {
            log.append(1, text("block " + b));
            log.commitAndWait();
        }
        corruptBlock(1); // block 2 of 3 torn by a power cut

        MetadataLog recovered = new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID);
        List<Rec> recs = replay(recovered, 0, 1);
        assertEquals(List.of("block 0"), recs.stream().map(Rec::text).toList());
        // New work fills the hole; the old third block (sequence 3, epoch 1) is still on the device behind it.
        recovered.append(1, text("after recovery"));
        recovered.commitAndWait();

        List<Rec> later = replay(new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID), 0, 1);
        assertEquals(List.of("block 0", "after recovery"), later.stream().map(Rec::text).toList());
    }

    /** What a superblock keeps of the log, for tests of the log alone: its head epoch and stored epoch. */
    final class Stored {
        int headEpoch = 1;
        int epoch = 1; // a fresh log starts in epoch 1

        MetadataLog open(long blocks) {
            return new MetadataLog(device, REGION, blocks * MetadataLog.BLOCK_SIZE, ID, e -> {
                epoch = e;
                return java.util.concurrent.CompletableFuture.completedFuture(null);
            });
        }

        List<String> replay(MetadataLog log, long head, long seq) {
            List<String> out = new ArrayList<>();
            log.replay(head, seq, headEpoch, epoch, (s, type, payload) -> out.add(payload.toString(StandardCharsets.UTF_8).strip()));
            return out;
        }
    }

    static ByteBuf wholeBlock(String s) {
        return text(s + " ".repeat(MetadataLog.MAX_PAYLOAD - s.length())); // a record that fills a block
    }

    @Test
    void aBlockOfAnEraWhoseFirstBlockWasLostIsNeverReplayedAfterASecondCrash() {
        Stored sb = new Stored();
        MetadataLog log = sb.open(16);
        log.start(0, 1);
        log.append(1, text("durable 0"));
        log.commitAndWait();

        // Second era: one commit of two blocks; the cut loses the first and keeps the second.
        MetadataLog second = sb.open(16);
        assertEquals(List.of("durable 0"), sb.replay(second, 0, 1));
        second.append(1, wholeBlock("lost"));
        second.append(1, wholeBlock("stale"));
        second.commitAndWait();
        corruptBlock(1);

        // Third era: replay stops at the hole, new work fills it, and the power goes again.
        MetadataLog third = sb.open(16);
        assertEquals(List.of("durable 0"), sb.replay(third, 0, 1));
        third.append(1, text("refilled"));
        third.commitAndWait();

        // The second era's block behind the old hole has the right sequence but was never acknowledged.
        assertEquals(List.of("durable 0", "refilled"), sb.replay(sb.open(16), 0, 1));
    }

    @Test
    void aCheckpointsHeadLetsNoBlockOfAnEarlierEraThrough() {
        Stored sb = new Stored();
        MetadataLog log = sb.open(16);
        log.start(0, 1);
        log.append(1, text("durable 0"));
        log.commitAndWait();
        MetadataLog second = sb.open(16);
        sb.replay(second, 0, 1);
        second.append(1, wholeBlock("lost"));
        second.append(1, wholeBlock("stale a"));
        second.append(1, wholeBlock("stale b"));
        second.commitAndWait();
        corruptBlock(1);

        // Third era: fills the hole, then checkpoints: the head moves onto the second era's stale block.
        MetadataLog third = sb.open(16);
        assertEquals(List.of("durable 0"), sb.replay(third, 0, 1));
        third.append(1, text("refilled"));
        third.commitAndWait();
        long head = third.nextOffset();
        long seq = third.nextSequence();
        third.headMoved();
        sb.headEpoch = third.epoch();
        third.epochRecorded();

        assertEquals(List.of(), sb.replay(sb.open(16), head, seq), "the stale blocks after the head are refused");
    }

    @Test
    void noBlockOfANewEraIsWrittenBeforeItsEpochIsDurable() throws Exception {
        MetadataLog log = fresh(16);
        log.append(1, text("durable 0"));
        log.commitAndWait();
        java.util.concurrent.CompletableFuture<Void> stored = new java.util.concurrent.CompletableFuture<>();
        int[] asked = {0};
        MetadataLog next = new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID, e -> {
            asked[0] = e;
            return stored;
        });
        next.replay(0, 1, 1, 1, (s, t, b) -> { });
        next.append(1, text("new era"));
        java.util.concurrent.CompletableFuture<Void> committed = next.commit();
        assertEquals(2, asked[0], "the era asks for its epoch to be stored");
        assertEquals(List.of("durable 0"), replay(new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID), 0, 1)
                .stream().map(Rec::text).toList(), "nothing written while the epoch is not durable");
        assertTrue(!committed.isDone());
        stored.complete(null);
        committed.get(10, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(List.of("durable 0", "new era"), replay(new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID), 0, 1)
                .stream().map(Rec::text).toList());
    }

    @Test
    void aLogFromBeforeEpochsWereStoredTakesAnEpochAboveEveryBlockInTheRegion() {
        MetadataLog log = fresh(16);
        for (int b = 0; b < 4; b++) {
            log.append(1, text("block " + b));
            log.commitAndWait();
        }
        corruptBlock(0); // nothing replays, yet epoch 1 is on the device
        MetadataLog.Position p = new MetadataLog(device, REGION, 16 * MetadataLog.BLOCK_SIZE, ID).replay(0, 1, 0, 0,
                (s, t, b) -> {
                    throw new AssertionError("replayed a record behind a hole");
                });
        assertEquals(0, p.blocksReplayed());
        assertEquals(2, p.epoch());
    }

    @Test
    void theRingWrapsAfterTheHeadMoves() {
        MetadataLog log = fresh(4);
        for (int b = 0; b < 3; b++) {
            log.append(1, text("first " + b));
            log.commitAndWait();
        }
        long head = log.nextOffset();
        long seq = log.nextSequence();
        log.headMoved(); // a checkpoint now covers the first three blocks
        for (int b = 0; b < 4; b++) {
            log.append(1, text("second " + b));
            log.commitAndWait();
        }
        assertThrows(IllegalStateException.class, () -> log.append(1, text("one too many")));
        log.discardPending();
        List<Rec> recs = replay(new MetadataLog(device, REGION, 4 * MetadataLog.BLOCK_SIZE, ID), head, seq);
        assertEquals(List.of("second 0", "second 1", "second 2", "second 3"), recs.stream().map(Rec::text).toList());
    }
}
