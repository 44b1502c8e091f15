using Microsoft.Win32.SafeHandles;
using Paddock.Engine.Interop;
using Paddock.Engine.Isolation;

namespace Paddock.Engine.Vms;

/// <summary>
/// A VM's run directory, laid out so that root never walks a name the VM's uid could have swapped
/// (issue 15's one design, libvirt's: the agent's files in a directory only the agent can write).
/// </summary>
/// <remarks>
/// <c>{vms}/{id}/</c> belongs to the agent (0711: the VM's uid may pass, not list or write). It holds
/// what the agent makes: <c>spec.json</c> and the saved state (the agent's alone, 0600), the disks,
/// the serial log and QEMU's output files (made by the agent, then given to the VM's uid, 0600,
/// because QEMU writes them; the VM can change their bytes, never their names), and the save socket.
/// <c>{vms}/{id}/qemu/</c> belongs to the VM's uid (0700): QEMU's pidfile and the sockets it listens
/// on. Root never opens, creates or deletes a name there: it reads the pidfile with O_NOFOLLOW,
/// connects to the sockets only to check with SO_PEERCRED that the VM's own QEMU answers
/// (<see cref="UnixPeer"/>), and has the VM's uid empty it (<see cref="VmUid"/>).
/// On Windows (WHPX, QEMU as the agent itself) the directory gets the agent's access list (<see cref="WindowsAcl"/>).
/// </remarks>
public static class RunDirectory
{
    private const UnixFileMode Directory0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // Others may traverse to reach what is theirs inside, not list it.
    private const UnixFileMode Directory0711 = Directory0700 | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>
    /// Creates (or re-secures) the run directory as the agent's (0711, its parent too if missing),
    /// the files QEMU writes as the VM's, and an empty QEMU directory.
    /// </summary>
    public static VmPaths Create(VmPaths paths, int uid, int gid)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(paths.QemuDirectory);
            WindowsAcl.Protect(paths.RunDirectory);
            return paths;
        }

        CheckIds(uid, gid);
        var parent = Path.GetDirectoryName(paths.RunDirectory)!;
        if (!Directory.Exists(parent))
            Directory.CreateDirectory(parent, Directory0711);
        MakeOwnDirectory(paths.RunDirectory, Libc.EffectiveUid(), Libc.EffectiveGid(), Directory0711);
        PrepareQemuDirectory(paths, uid, gid);
        return paths;
    }

    /// <summary>
    /// Before each QEMU start: the QEMU directory emptied by the VM's own uid (a stale socket or
    /// pidfile would pass for the new QEMU's), and the files QEMU appends to present and the VM's.
    /// </summary>
    public static void PrepareQemuDirectory(VmPaths paths, int uid, int gid)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (OperatingSystem.IsWindows())
            return;
        CheckIds(uid, gid);
        if (Directory.Exists(paths.QemuDirectory))
            VmUid.EmptyDirectory(paths.QemuDirectory, uid, gid);
        MakeOwnDirectory(paths.QemuDirectory, uid, gid, Directory0700);
        foreach (var file in new[] { paths.SerialLog, paths.Stdout, paths.Stderr })
            GiveFile(file, uid, gid, create: true);
    }

    /// <summary>Gives an existing file (a disk the agent just made) to the VM's uid:gid with mode 0600, never following a link.</summary>
    public static void SecureFile(string path, int uid, int gid) => GiveFile(path, uid, gid, create: false);

    /// <summary>Takes a file the agent made and lent to a VM's uid back (the agent's, 0600), never following a link.</summary>
    public static void TakeBack(string path)
    {
        if (!OperatingSystem.IsWindows())
            GiveFile(path, Libc.EffectiveUid(), Libc.EffectiveGid(), create: false);
    }

    /// <summary>
    /// A unix socket the agent bound in the run directory for QEMU to connect to (save): the VM's,
    /// 0600. The directory is the agent's, so the name is the one the agent bound.
    /// </summary>
    public static void SecureSocket(string path, int uid, int gid)
    {
        if (OperatingSystem.IsWindows())
            return;
        Libc.LChown(path, uid, gid);
        File.SetUnixFileMode(path, File0600);
    }

    /// <summary>Opens a file of the run directory that QEMU writes (the serial log) for reading, never through a link.</summary>
    public static FileStream OpenForReading(string path) => Libc.OpenReadNoFollow(path);

    /// <summary>
    /// Opens a file of the run directory that QEMU writes (the serial log) to read and truncate it,
    /// never through a link, and only when it is a plain file.
    /// </summary>
    public static SafeFileHandle OpenForRotation(string path)
    {
        if (OperatingSystem.IsWindows())
            return File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var handle = Libc.OpenNoFollow(path, Libc.O_RDWR);
        try
        {
            _ = Libc.RegularFileOwnerAndSize(handle);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>A new file of the agent's alone (0600), replacing a leftover of an earlier try; the directory is the agent's, so no link is met.</summary>
    public static FileStream CreateOwnFile(string path)
    {
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous, BufferSize = 1 << 20 };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = File0600;
        return new FileStream(path, options);
    }

    /// <summary>
    /// Writes a file of the agent's whole or not at all: a temporary file beside it, flushed to
    /// disk, then renamed over it (a crash leaves the old or the new one, never half of one).
    /// </summary>
    public static Task WriteAtomicallyAsync(string path, string text, CancellationToken ct = default) =>
        WriteAtomicallyAsync(path, (file, token) => file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), token).AsTask(), ct);

    /// <summary>The same, for content that <paramref name="write"/> streams into the new file.</summary>
    public static async Task WriteAtomicallyAsync(string path, Func<Stream, CancellationToken, Task> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var file = CreateOwnFile(temporary))
            {
                await write(file, ct).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Deletes the run directory and everything in it: the QEMU directory's owner empties it,
    /// then the agent removes its own directory (links in it are removed, not followed). Missing is fine.
    /// </summary>
    public static void Delete(VmPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var info = new DirectoryInfo(paths.RunDirectory);
        if (info.LinkTarget is not null)
        {
            info.Delete();
            return;
        }

        if (!info.Exists)
            return;
        // Its owner, not the spec, says whose it is: a create that failed half-way left no spec.
        if (!OperatingSystem.IsWindows() && Libc.Owner(paths.QemuDirectory) is var (uid, gid))
            VmUid.EmptyDirectory(paths.QemuDirectory, uid, gid);

        info.Delete(recursive: true);
    }

    /// <summary>A directory of <paramref name="uid"/>'s with <paramref name="mode"/>, in a parent only the agent writes: never a link.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void MakeOwnDirectory(string directory, int uid, int gid, UnixFileMode mode)
    {
        var info = new DirectoryInfo(directory);
        if (info.Exists && info.LinkTarget is not null)
            throw new IOException($"'{directory}' is a symbolic link, not a directory.");
        Directory.CreateDirectory(directory, mode);
        Libc.LChown(directory, uid, gid);
        File.SetUnixFileMode(directory, mode);
    }

    private static void GiveFile(string path, int uid, int gid, bool create)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (OperatingSystem.IsWindows())
            return;
        CheckIds(uid, gid);
        // Through a handle opened with O_NOFOLLOW: a path-based chmod follows symlinks.
        using var handle = Libc.OpenNoFollow(path, create ? Libc.O_WRONLY | Libc.O_CREAT : Libc.O_RDONLY);
        Libc.FChown(handle, uid, gid);
        File.SetUnixFileMode(handle, File0600);
    }

    private static void CheckIds(int uid, int gid)
    {
        if (uid < 0 || gid < 0)
            throw new ArgumentOutOfRangeException(nameof(uid), $"uid and gid must not be negative (were {uid}, {gid}).");
    }
}
