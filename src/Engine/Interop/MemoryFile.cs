using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Paddock.Engine.Interop;

/// <summary>
/// A file with no name anywhere, in memory (memfd_create(2)). What another process writes into it
/// through a descriptor it was handed is charged to that process's memory cgroup, so a hostile QEMU
/// filling it fills only its own bounded memory, never a disk of the host.
/// </summary>
public sealed class MemoryFile : IDisposable
{
    private const uint MFD_CLOEXEC = 1;

    private readonly SafeFileHandle _handle;

    public MemoryFile(string name)
    {
        var fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"memfd_create failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }

        _handle = new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>A new write-only descriptor of the same file (through this process's own /proc), for a process that must only write it.</summary>
    public SafeFileHandle OpenWriteOnly() =>
        File.OpenHandle($"/proc/self/fd/{_handle.DangerousGetHandle()}", FileMode.Open, FileAccess.Write);

    /// <summary>Reads the file from its start.</summary>
    public Stream OpenRead() => new FileStream(new SafeFileHandle(_handle.DangerousGetHandle(), ownsHandle: false), FileAccess.Read, bufferSize: 0);

    public void Dispose() => _handle.Dispose();

    [DllImport("libc", SetLastError = true)]
    private static extern int memfd_create([MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint flags);
}
