using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Paddock.Engine.Interop;

/// <summary>
/// The few libc calls .NET has no API for. Root works inside directories a VM's uid owns, so
/// every call that takes a path must not follow a symlink the VM may have planted there.
/// </summary>
internal static class Libc
{
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    private const int ENOENT = 2;
    private const int ESRCH = 3;

    /// <summary>Opens an existing regular file read-only without following a final symlink (O_NOFOLLOW).</summary>
    /// <exception cref="IOException">Missing, a symlink, or not a regular file.</exception>
    public static FileStream OpenReadNoFollow(string path)
    {
        var fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | NoFollow);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open '{path}' without following links: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0);
            // FIFOs and devices are not seekable: refuse anything that is not a plain file.
            if (!stream.CanSeek)
                throw new IOException($"'{path}' is not a regular file.");
            return stream;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The owner of <paramref name="path"/> itself (a final link is not followed); null when missing.</summary>
    public static (int Uid, int Gid)? Owner(string path)
    {
        // struct statx: stx_uid at 20, stx_gid at 24 on every architecture.
        var buffer = new byte[256];
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_UID | STATX_GID, buffer) != 0)
            return Marshal.GetLastPInvokeError() == ENOENT ? null : throw LastError($"statx({path})");
        return ((int)BitConverter.ToUInt32(buffer, 20), (int)BitConverter.ToUInt32(buffer, 24));
    }

    /// <summary>The owner and size of the open file <paramref name="handle"/> (statx on the descriptor, so no path can be swapped in between).</summary>
    /// <exception cref="IOException">It is not a regular file (a directory, FIFO or device).</exception>
    public static (int Owner, long Size) RegularFileOwnerAndSize(SafeFileHandle handle)
    {
        // struct statx has the same layout on every architecture: stx_uid at 20, stx_mode at 28, stx_size at 40.
        var buffer = new byte[256];
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (statx((int)handle.DangerousGetHandle(), "", AT_EMPTY_PATH, STATX_TYPE | STATX_UID | STATX_SIZE, buffer) != 0)
                throw LastError("statx");
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }

        var mode = BitConverter.ToUInt16(buffer, 28);
        if ((mode & S_IFMT) != S_IFREG)
            throw new IOException("Not a regular file.");
        return ((int)BitConverter.ToUInt32(buffer, 20), BitConverter.ToInt64(buffer, 40));
    }

    /// <summary>chown without following a final symlink.</summary>
    public static void LChown(string path, int uid, int gid)
    {
        if (lchown(path, uid, gid) != 0)
            throw LastError($"lchown({path}, {uid}, {gid})");
    }

    public static void FChown(SafeFileHandle handle, int uid, int gid)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (fchown((int)handle.DangerousGetHandle(), uid, gid) != 0)
                throw LastError($"fchown({uid}, {gid})");
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Sends <paramref name="signal"/>; false when the process no longer exists.</summary>
    /// <summary>Whom this process acts as (0: root).</summary>
    public static int EffectiveUid() => (int)geteuid();

    public static int EffectiveGid() => (int)getegid();

    public static bool Kill(int pid, int signal)
    {
        if (kill(pid, signal) == 0)
            return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == ESRCH)
            return false;
        throw new IOException($"kill({pid}, {signal}) failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    /// <summary>open(2) without following a final symlink; with O_CREAT a new file gets mode 0600.</summary>
    public static SafeFileHandle OpenNoFollow(string path, int flags)
    {
        var fd = open(path, flags | O_CLOEXEC | O_NONBLOCK | NoFollow, 0x180);
        if (fd < 0)
            throw LastError($"open({path})");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Sets FD_CLOEXEC on every descriptor of this process from 3 up. .NET opens its own with
    /// O_CLOEXEC, but descriptors inherited from whatever started the agent (a test runner's or a
    /// service manager's pipes) are not, and would otherwise pass into every child, QEMU included.
    /// </summary>
    public static void MarkInheritedDescriptorsCloseOnExec()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var fd) || fd < 3)
                continue;
            var flags = fcntl(fd, F_GETFD, 0);
            if (flags >= 0 && (flags & FD_CLOEXEC) == 0)
                _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }

    /// <summary>
    /// Opens /dev/net/tun as the tap <paramref name="name"/> (TUNSETIFF: IFF_TAP | IFF_NO_PI |
    /// IFF_VNET_HDR, as QEMU's own tap backend asks for it), creating it when missing.
    /// </summary>
    public static SafeFileHandle OpenTap(string name)
    {
        var fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            throw LastError("open(/dev/net/tun)");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        // struct ifreq: the name (16 bytes, NUL-terminated), then ifr_flags (short) in a 24-byte union.
        var request = new byte[40];
        System.Text.Encoding.ASCII.GetBytes(name, request);
        BitConverter.TryWriteBytes(request.AsSpan(16), (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
        if (ioctl(fd, TUNSETIFF, request) != 0)
        {
            var error = LastError($"TUNSETIFF({name})");
            handle.Dispose();
            throw error;
        }
        return handle;
    }

    /// <summary>
    /// Sends <paramref name="data"/> on a connected unix socket with <paramref name="descriptor"/>
    /// attached (SCM_RIGHTS, unix(7)): QEMU's <c>getfd</c> takes the descriptor that came with it.
    /// </summary>
    public static void SendWithDescriptor(SafeHandle socket, ReadOnlySpan<byte> data, SafeHandle descriptor)
    {
        var socketAdded = false;
        var descriptorAdded = false;
        var buffer = Marshal.AllocHGlobal(data.Length + 64);
        try
        {
            socket.DangerousAddRef(ref socketAdded);
            descriptor.DangerousAddRef(ref descriptorAdded);
            Marshal.Copy(data.ToArray(), 0, buffer, data.Length);
            // struct cmsghdr on LP64: cmsg_len (size_t), cmsg_level, cmsg_type (int), then the data.
            var control = buffer + data.Length + 8 - (data.Length % 8);
            Marshal.WriteInt64(control, 20);
            Marshal.WriteInt32(control, 8, SOL_SOCKET);
            Marshal.WriteInt32(control, 12, SCM_RIGHTS);
            Marshal.WriteInt32(control, 16, (int)descriptor.DangerousGetHandle());
            var sent = 0;
            for (var tries = 0; sent < data.Length; tries++)
            {
                var vector = new IoVec { Base = buffer + sent, Length = (nuint)(data.Length - sent) };
                var message = new MsgHdr { Iov = Marshal.AllocHGlobal(Marshal.SizeOf<IoVec>()), IovLength = 1 };
                try
                {
                    Marshal.StructureToPtr(vector, message.Iov, false);
                    // The descriptor travels with the first byte only.
                    if (sent == 0)
                        (message.Control, message.ControlLength) = (control, 24);
                    var result = sendmsg((int)socket.DangerousGetHandle(), ref message, MSG_NOSIGNAL);
                    if (result >= 0)
                        sent += (int)result;
                    else if (Marshal.GetLastPInvokeError() == EAGAIN && tries < 1000)
                        Thread.Sleep(1);
                    else
                        throw LastError("sendmsg");
                }
                finally
                {
                    Marshal.FreeHGlobal(message.Iov);
                }
            }
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
            if (descriptorAdded)
                descriptor.DangerousRelease();
            if (socketAdded)
                socket.DangerousRelease();
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public nint Name;
        public int NameLength;
        public nint Iov;
        public nuint IovLength;
        public nint Control;
        public nuint ControlLength;
        public int Flags;
    }

    private const nuint TUNSETIFF = 0x400454ca;
    private const int IFF_TAP = 0x0002;
    private const int IFF_NO_PI = 0x1000;
    private const int IFF_VNET_HDR = 0x4000;
    private const int SOL_SOCKET = 1;
    private const int SCM_RIGHTS = 1;
    private const int MSG_NOSIGNAL = 0x4000;
    private const int EAGAIN = 11;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_TYPE = 0x1;
    private const uint STATX_UID = 0x8;
    private const uint STATX_SIZE = 0x200;
    private const int S_IFMT = 0xF000;
    private const int S_IFREG = 0x8000;
    private const int AT_FDCWD = -100;
    private const int AT_SYMLINK_NOFOLLOW = 0x100;
    private const uint STATX_GID = 0x10;
    private const int F_GETFD = 1;
    private const int F_SETFD = 2;
    private const int FD_CLOEXEC = 1;
    private const int O_NONBLOCK = 0x800;
    private const int O_CLOEXEC = 0x80000;

    // O_NOFOLLOW differs by architecture (asm-generic/fcntl.h vs arch/arm64/include/uapi/asm/fcntl.h).
    private static int NoFollow => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;

    private static IOException LastError(string call)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);

    [DllImport("libc", SetLastError = true)]
    private static extern int lchown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int owner, int group);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchown(int fd, int owner, int group);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int ioctl(int fd, nuint request, [In, Out] byte[] argument);

    [DllImport("libc", SetLastError = true)]
    private static extern nint sendmsg(int socket, ref MsgHdr message, int flags);

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern uint getegid();
}
