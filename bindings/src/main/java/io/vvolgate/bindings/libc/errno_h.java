package io.vvolgate.bindings.libc;

/**
 * Constants of {@code <errno.h>} (asm-generic/errno-base.h, asm-generic/errno.h; x86_64 and arm64 agree)
 * that the backends test for. Values checked against glibc 2.36 / Linux 6.1 headers, see SYMBOLS.md.
 */
@SuppressWarnings("checkstyle:TypeName")
public final class errno_h {
    private errno_h() {
    }

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EBUSY = 16;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int ERANGE = 34;
    public static final int ENOSYS = 38;
    public static final int ETIME = 62;
    public static final int EOPNOTSUPP = 95;
}
