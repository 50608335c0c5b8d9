package io.vvolgate.gateway.transport.tcp;

import io.vvolgate.gateway.fabrics.FabricsQueue;
import io.vvolgate.gateway.fabrics.NvmeRequest;
import io.vvolgate.gateway.fabrics.QueueAcceptor;
import io.vvolgate.gateway.fabrics.QueueTransport;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for the NVMe-oF core: accepts every queue (unless told to refuse), records what it is given,
 * answers reads with {@link #pattern} bytes and writes with success, or holds requests for the test to
 * complete.
 */
final class FakeTarget implements QueueAcceptor {
    final List<Queue> queues = new CopyOnWriteArrayList<>();
    volatile boolean refuse;
    volatile boolean autoComplete = true;
    volatile boolean flowControlDisabled;
    volatile int readStatus;

    static byte pattern(int i) {
        return (byte) ((i * 31 + 7) ^ (i >>> 8));
    }

    static byte[] pattern(int offset, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = pattern(offset + i);
        }
        return b;
    }

    @Override
    public FabricsQueue accept(QueueTransport transport) {
        if (refuse) {
            return null;
        }
        Queue q = new Queue(transport);
        queues.add(q);
        return q;
    }

    Queue queue() {
        return queues.getFirst();
    }

    /** One queue: records submissions. */
    final class Queue implements FabricsQueue {
        final QueueTransport transport;
        final List<NvmeRequest> held = new ArrayList<>();
        final List<Integer> submittedCids = new CopyOnWriteArrayList<>();
        final List<byte[]> writeData = new CopyOnWriteArrayList<>();
        final List<byte[]> sqes = new CopyOnWriteArrayList<>();
        volatile int transportClosedCalls;

        Queue(QueueTransport transport) {
            this.transport = transport;
        }

        @Override
        public synchronized void submit(NvmeRequest request) {
            submittedCids.add(request.cid());
            byte[] sqe = new byte[64];
            request.sqe().getBytes(0, sqe);
            sqes.add(sqe);
            if (request.dataDirection() == NvmeRequest.DIR_H2C) {
                if (request.data().readableBytes() != request.dataLength()) {
                    throw new AssertionError("H2C data must hold exactly dataLength readable bytes");
                }
                byte[] data = new byte[request.dataLength()];
                request.data().getBytes(request.data().readerIndex(), data);
                writeData.add(data);
            }
            if (autoComplete) {
                answer(request);
            } else {
                held.add(request);
            }
        }

        void answer(NvmeRequest request) {
            if (request.dataDirection() == NvmeRequest.DIR_C2H) {
                if (request.data().writerIndex() != 0 || request.data().capacity() < request.dataLength()) {
                    throw new AssertionError("C2H buffer must be empty with capacity >= dataLength");
                }
                request.data().writeBytes(pattern(0, request.dataLength()));
                request.setStatus(readStatus);
            }
            request.setResult(0x11223344, 0x55667788);
            request.setQueueFields(7, Math.max(queueId(), 0));
            request.complete();
        }

        /** Completes everything held, in order. */
        synchronized void answerHeld() {
            List<NvmeRequest> copy = new ArrayList<>(held);
            held.clear();
            copy.forEach(this::answer);
        }

        @Override
        public void transportClosed() {
            transportClosedCalls++;
        }

        @Override
        public boolean sqFlowControlDisabled() {
            return flowControlDisabled;
        }

        @Override
        public int queueId() {
            return 1;
        }
    }
}
