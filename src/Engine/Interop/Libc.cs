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

    public static SafeFileHandle OpenNoFollow(string path, int flags)
    {
        var fd = open(path, flags | O_CLOEXEC | O_NONBLOCK | NoFollow);
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

    public const int O_RDONLY = 0;
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
    private static extern int lchown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int owner, int group);

    [DllImport("libc", SetLastError = true)]
    private static extern int fchown(int fd, int owner, int group);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern uint getegid();
}
