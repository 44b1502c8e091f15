using Paddock.Engine.Interop;

namespace Paddock.Engine.Vms;

/// <summary>
/// Creates and deletes a VM's run directory: mode 0700 and owned by the VM's uid:gid, so QEMU can
/// create its sockets there and no other VM's uid can even list it. On Windows (WHPX, unconfined)
/// ownership and modes are left to the OS.
/// </summary>
public static class RunDirectory
{
    private const UnixFileMode Directory0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // Others may traverse the run root to reach their own directory, not list it.
    private const UnixFileMode Root0711 = Directory0700 | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>Creates (or re-secures) <see cref="VmPaths.RunDirectory"/>, its parent if missing (0711).</summary>
    public static VmPaths Create(VmPaths paths, int uid, int gid)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var directory = paths.RunDirectory;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return paths;
        }

        CheckIds(uid, gid);
        var parent = Path.GetDirectoryName(directory)!;
        if (!Directory.Exists(parent))
            Directory.CreateDirectory(parent, Root0711);

        var info = new DirectoryInfo(directory);
        if (info.Exists && info.LinkTarget is not null)
            throw new IOException($"'{directory}' is a symbolic link, not a run directory.");
        Directory.CreateDirectory(directory, Directory0700);
        Libc.LChown(directory, uid, gid);
        File.SetUnixFileMode(directory, Directory0700);
        return paths;
    }

    /// <summary>
    /// Gives an existing file (a disk the agent just created, spec.json) to the VM's uid:gid with
    /// mode 0600, without following a symlink.
    /// </summary>
    public static void SecureFile(string path, int uid, int gid)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (OperatingSystem.IsWindows())
            return;
        CheckIds(uid, gid);
        // Through a handle opened with O_NOFOLLOW: a path-based chmod follows symlinks.
        using var handle = Libc.OpenNoFollow(path, Libc.O_RDONLY);
        Libc.FChown(handle, uid, gid);
        File.SetUnixFileMode(handle, File0600);
    }

    /// <summary>
    /// A unix socket the agent made for QEMU to open (save): owned by the VM's uid, 0600. Sockets
    /// cannot be opened like files, so this changes the path itself, never following a symlink.
    /// </summary>
    public static void SecureSocket(string path, int uid, int gid)
    {
        if (OperatingSystem.IsWindows())
            return;

        Libc.LChown(path, uid, gid);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Deletes the run directory and everything in it (links are removed, not followed). Missing is fine.</summary>
    public static void Delete(VmPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var info = new DirectoryInfo(paths.RunDirectory);
        if (info.LinkTarget is not null)
            info.Delete();
        else if (info.Exists)
            info.Delete(recursive: true);
    }

    private static void CheckIds(int uid, int gid)
    {
        if (uid < 0 || gid < 0)
            throw new ArgumentOutOfRangeException(nameof(uid), $"uid and gid must not be negative (were {uid}, {gid}).");
    }
}
