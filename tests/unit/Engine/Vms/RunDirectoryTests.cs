using System.Runtime.InteropServices;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Vms;

public sealed class RunDirectoryTests : IDisposable
{
    private readonly string _root = Path.Join(Path.GetTempPath(), $"paddock-rd-{Guid.NewGuid():N}");

    // Our own ids: chown to oneself needs no privilege, so the test runs as any user.
    private static int Uid => (int)geteuid();

    private static int Gid => (int)getegid();

    [Fact]
    public void Creates_the_run_directory_0700_and_its_parent_traversable()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(Path.Join(_root, "vms"), Guid.NewGuid()), Uid, Gid);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(paths.RunDirectory));
        Assert.True(File.GetUnixFileMode(Path.Join(_root, "vms")).HasFlag(UnixFileMode.OtherExecute));
        Assert.False(File.GetUnixFileMode(Path.Join(_root, "vms")).HasFlag(UnixFileMode.OtherRead));
    }

    [Fact]
    public void Secures_a_file_0600()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        File.WriteAllText(paths.SpecFile, "{}");
        File.SetUnixFileMode(paths.SpecFile, (UnixFileMode)0x1B6); // 0666

        RunDirectory.SecureFile(paths.SpecFile, Uid, Gid);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(paths.SpecFile));
    }

    [Fact]
    public void Securing_a_symlink_is_refused_and_its_target_untouched()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        var target = Path.Join(_root, "host-file");
        File.WriteAllText(target, "secret");
        File.SetUnixFileMode(target, (UnixFileMode)0x1A4); // 0644
        File.CreateSymbolicLink(paths.Disk("root"), target);

        Assert.Throws<IOException>(() => RunDirectory.SecureFile(paths.Disk("root"), Uid, Gid));
        Assert.Equal((UnixFileMode)0x1A4, File.GetUnixFileMode(target));
    }

    [Fact]
    public void Delete_removes_everything_and_tolerates_a_missing_directory()
    {
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        File.WriteAllText(paths.Stderr, "x");

        RunDirectory.Delete(paths);
        RunDirectory.Delete(paths);

        Assert.False(Directory.Exists(paths.RunDirectory));
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
