using System.Net.Sockets;
using System.Runtime.InteropServices;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Vms;

public sealed class RunDirectoryTests : IDisposable
{
    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _root = Path.Join(Path.GetTempPath(), $"rd-{Guid.NewGuid():N}"[..11]);

    // Our own ids: chown to oneself needs no privilege, so the test runs as any user.
    private static int Uid => (int)geteuid();

    private static int Gid => (int)getegid();

    [Fact]
    public void Creates_the_run_directory_0711_its_qemu_directory_0700_and_its_parent_traversable()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(Path.Join(_root, "vms"), Guid.NewGuid()), Uid, Gid);

        Assert.Equal(Mode0700 | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, File.GetUnixFileMode(paths.RunDirectory));
        Assert.Equal(Mode0700, File.GetUnixFileMode(paths.QemuDirectory));
        Assert.True(File.GetUnixFileMode(Path.Join(_root, "vms")).HasFlag(UnixFileMode.OtherExecute));
        Assert.False(File.GetUnixFileMode(Path.Join(_root, "vms")).HasFlag(UnixFileMode.OtherRead));
        // QEMU appends to these and cannot create files in the agent's directory: they are made for it.
        foreach (var file in new[] { paths.SerialLog, paths.Stdout, paths.Stderr })
            Assert.Equal(Mode0600, File.GetUnixFileMode(file));
    }

    [Fact]
    public void Sockets_and_the_pidfile_are_in_the_qemu_directory_and_the_agents_files_are_not()
    {
        var paths = VmPaths.For("/var/lib/paddock/x/vms", Guid.NewGuid());

        Assert.All(new[] { paths.QmpSocket, paths.VncSocket, paths.SerialSocket, paths.PidFile, paths.RestoreSocket, paths.TestMonitorSocket },
            p => Assert.Equal(paths.QemuDirectory, Path.GetDirectoryName(p)));
        Assert.All(new[] { paths.SpecFile, paths.StateFile, paths.SaveSocket, paths.SerialLog, paths.Stderr, paths.Disk("root") },
            p => Assert.Equal(paths.RunDirectory, Path.GetDirectoryName(p)));
    }

    [Fact]
    public void Secures_a_file_0600()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        File.WriteAllText(paths.Disk("root"), "{}");
        File.SetUnixFileMode(paths.Disk("root"), (UnixFileMode)0x1B6); // 0666

        RunDirectory.SecureFile(paths.Disk("root"), Uid, Gid);

        Assert.Equal(Mode0600, File.GetUnixFileMode(paths.Disk("root")));
    }

    [Fact]
    public void Securing_a_symlink_is_refused_and_its_target_untouched()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        var target = HostFile();
        File.CreateSymbolicLink(paths.Disk("root"), target);

        Assert.Throws<IOException>(() => RunDirectory.SecureFile(paths.Disk("root"), Uid, Gid));
        Assert.Equal((UnixFileMode)0x1A4, File.GetUnixFileMode(target));
    }

    [Fact]
    public void Preparing_for_a_start_empties_the_qemu_directory_without_following_links_in_it()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        var host = HostFile();
        var hostDirectory = Directory.CreateDirectory(Path.Join(_root, "host-dir")).FullName;
        File.WriteAllText(Path.Join(hostDirectory, "kept"), "kept");
        File.CreateSymbolicLink(paths.PidFile, host);
        File.CreateSymbolicLink(Path.Join(paths.QemuDirectory, "dir-link"), hostDirectory);
        Directory.CreateDirectory(Path.Join(paths.QemuDirectory, "deep", "er"));

        RunDirectory.PrepareQemuDirectory(paths, Uid, Gid);

        Assert.Empty(Directory.EnumerateFileSystemEntries(paths.QemuDirectory));
        Assert.Equal("secret", File.ReadAllText(host));
        Assert.Equal("kept", File.ReadAllText(Path.Join(hostDirectory, "kept")));
    }

    [Fact]
    public void A_serial_log_that_is_a_link_is_not_read()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = VmPaths.For(_root, Guid.NewGuid());
        Directory.CreateDirectory(paths.RunDirectory);
        File.CreateSymbolicLink(paths.SerialLog, HostFile());

        Assert.Throws<IOException>(() => RunDirectory.OpenForReading(paths.SerialLog).Dispose());
        // Nor is a link given to the VM's uid when the run directory is made.
        Assert.Throws<IOException>(() => RunDirectory.Create(paths, Uid, Gid));
    }

    [Fact]
    public async Task Writes_atomically_and_leaves_no_temporary_file()
    {
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);

        await RunDirectory.WriteAtomicallyAsync(paths.SpecFile, "first");
        await RunDirectory.WriteAtomicallyAsync(paths.SpecFile, "second");

        Assert.Equal("second", await File.ReadAllTextAsync(paths.SpecFile));
        Assert.Single(Directory.EnumerateFiles(paths.RunDirectory, "spec.json*"));
        if (OperatingSystem.IsLinux())
            Assert.Equal(Mode0600, File.GetUnixFileMode(paths.SpecFile));
    }

    [Fact]
    public void Delete_removes_everything_and_tolerates_a_missing_directory()
    {
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        File.WriteAllText(paths.Stderr, "x");
        File.WriteAllText(Path.Join(paths.QemuDirectory, "left-over"), "x");

        RunDirectory.Delete(paths);
        RunDirectory.Delete(paths);

        Assert.False(Directory.Exists(paths.RunDirectory));
    }

    [Fact]
    public async Task A_socket_served_by_another_process_than_the_expected_one_is_refused()
    {
        if (!OperatingSystem.IsLinux())
            return;
        Directory.CreateDirectory(_root);
        var path = Path.Join(_root, "s.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);

        using (var own = await UnixPeer.ConnectAsync(path, Environment.ProcessId, "a test socket"))
            Assert.Equal(Environment.ProcessId, UnixPeer.Of(own).Pid);
        var refused = await Assert.ThrowsAsync<UnexpectedPeerException>(() => UnixPeer.ConnectAsync(path, Environment.ProcessId + 1, "a test socket"));
        Assert.Contains($"pid {Environment.ProcessId}", refused.Message);
        Assert.True(TamperingException.IsCause(new IOException("wrapped", refused)));
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private string HostFile()
    {
        Directory.CreateDirectory(_root);
        var target = Path.Join(_root, $"host-file-{Guid.NewGuid():N}");
        File.WriteAllText(target, "secret");
        File.SetUnixFileMode(target, (UnixFileMode)0x1A4); // 0644
        return target;
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern uint getegid();
}
