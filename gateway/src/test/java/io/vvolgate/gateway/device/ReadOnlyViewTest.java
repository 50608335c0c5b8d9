package io.vvolgate.gateway.device;

import io.vvolgate.gateway.testing.LeakFailingExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import static io.vvolgate.gateway.device.DeviceCalls.deallocate;
import static io.vvolgate.gateway.device.DeviceCalls.flush;
import static io.vvolgate.gateway.device.DeviceCalls.pattern;
import static io.vvolgate.gateway.device.DeviceCalls.read;
import static io.vvolgate.gateway.device.DeviceCalls.readErrno;
import static io.vvolgate.gateway.device.DeviceCalls.write;
import static io.vvolgate.gateway.device.DeviceCalls.writeZeroes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakFailingExtension.class)
class ReadOnlyViewTest {

    @Test
    void aWindowReadsShiftedStopsAtItsEndAndChangesNothing() {
        MemoryBlockDevice disk = new MemoryBlockDevice(4L << 20, 512);
        byte[] data = pattern(4096, 9);
        assertEquals(IoCompletion.OK, write(disk, (1L << 20) + 512, data, false));
        ReadOnlyView view = new ReadOnlyView(disk, 1L << 20, 2L << 20);
        assertEquals(2L << 20, view.size());
        assertTrue(view.readOnly());
        assertArrayEquals(data, read(view, 512, 4096), "offset 0 of the view is offset 1 MiB of the device");
        assertEquals(IoCompletion.ERANGE, readErrno(view, (2L << 20) - 512, 1024), "nothing past the window");
        assertEquals(IoCompletion.EROFS, write(view, 512, pattern(4096, 10), true));
        assertEquals(IoCompletion.EROFS, writeZeroes(view, 0, 4096, false));
        assertEquals(IoCompletion.EROFS, deallocate(view, 0, 4096));
        assertEquals(IoCompletion.OK, flush(view));
        view.close();
        assertArrayEquals(data, read(disk, (1L << 20) + 512, 4096), "the device is unchanged and still open");
        assertThrows(IllegalArgumentException.class, () -> new ReadOnlyView(disk, 3L << 20, 2L << 20));
        disk.close();
    }
}
