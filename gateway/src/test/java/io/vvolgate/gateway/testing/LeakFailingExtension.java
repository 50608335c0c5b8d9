package io.vvolgate.gateway.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Makes any Netty resource leak report fail the test that was running.
 *
 * <p>Use with {@code @ExtendWith(LeakFailingExtension.class)}. Loading this class installs a
 * {@link ResourceLeakDetectorFactory} whose detectors record every leak they report, raises the level to
 * PARANOID (every buffer tracked) and also hooks the ByteBuf detector if Netty created it before. After each
 * test it forces garbage collection until a sentinel object is observed collected, then allocates buffers
 * (which is when Netty polls its reference queue and reports), and fails the test if a leak was reported.
 *
 * <p>Leaks of objects that are still reachable when the test ends (e.g. held by a static) are not found;
 * release in the test or close the channel before it returns.
 */
public final class LeakFailingExtension implements BeforeEachCallback, AfterEachCallback {

    private static final ConcurrentLinkedQueue<String> LEAKS = new ConcurrentLinkedQueue<>();

    static {
        if (ResourceLeakDetector.getLevel().ordinal() < ResourceLeakDetector.Level.PARANOID.ordinal()) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        }
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
        hookExistingByteBufDetector();
    }

    /** Leak reports recorded so far and not yet claimed by a test (for tests of this extension). */
    public static List<String> drainLeaks() {
        List<String> leaks = new ArrayList<>();
        String leak;
        while ((leak = LEAKS.poll()) != null) {
            leaks.add(leak);
        }
        return leaks;
    }

    /** Collects garbage and makes Netty report what it found; returns the reports. */
    public static List<String> collectLeaks() {
        for (int round = 0; round < 3; round++) {
            forceGc();
            triggerReports();
        }
        return drainLeaks();
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        // Leaks from before this test (another class without the extension) are not this test's fault.
        collectLeaks();
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<String> leaks = collectLeaks();
        if (!leaks.isEmpty()) {
            throw new AssertionError("Netty reported " + leaks.size() + " resource leak(s) in "
                    + context.getDisplayName() + ":\n" + String.join("\n\n", leaks));
        }
    }

    private static void forceGc() {
        ReferenceQueue<Object> queue = new ReferenceQueue<>();
        WeakReference<Object> sentinel = new WeakReference<>(new Object(), queue);
        for (int i = 0; i < 20; i++) {
            System.gc();
            try {
                if (queue.remove(50) == sentinel) {
                    return;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Netty checks its reference queue when it tracks a new buffer. */
    private static void triggerReports() {
        for (int i = 0; i < 4; i++) {
            ByteBuf a = UnpooledByteBufAllocator.DEFAULT.directBuffer(1);
            ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(1);
            ByteBuf c = PooledByteBufAllocator.DEFAULT.heapBuffer(1);
            a.release();
            b.release();
            c.release();
        }
    }

    private static void hookExistingByteBufDetector() {
        try {
            Class<?> abstractByteBuf = Class.forName("io.netty.buffer.AbstractByteBuf");
            Field field = abstractByteBuf.getDeclaredField("leakDetector");
            field.setAccessible(true);
            ResourceLeakDetector<?> detector = (ResourceLeakDetector<?>) field.get(null);
            if (!(detector instanceof RecordingDetector)) {
                detector.setLeakListener((type, records) -> LEAKS.add("LEAK of " + type + ":" + records));
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Our factory was installed before ByteBuf detectors existed, or Netty changed; nothing to hook.
        }
    }

    private static final class RecordingFactory extends ResourceLeakDetectorFactory {
        @Override
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
            return new RecordingDetector<>(resource, samplingInterval);
        }
    }

    private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {
        RecordingDetector(Class<T> resource, int samplingInterval) {
            super(resource, samplingInterval);
        }

        @Override
        protected boolean needReport() {
            return true;
        }

        @Override
        protected void reportTracedLeak(String resourceType, String records) {
            LEAKS.add("LEAK of " + resourceType + ":" + records);
            super.reportTracedLeak(resourceType, records);
        }

        @Override
        protected void reportUntracedLeak(String resourceType) {
            LEAKS.add("LEAK of " + resourceType + " (no records)");
            super.reportUntracedLeak(resourceType);
        }
    }
}
