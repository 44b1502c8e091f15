using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Vms;

public sealed class SerialLogTests : IDisposable
{
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const int Cap = 1000;

    private readonly string _root = Path.Join(Path.GetTempPath(), $"sl-{Guid.NewGuid():N}"[..11]);

    [Fact]
    public void A_log_within_the_cap_is_left_alone()
    {
        Assert.Null(SerialLog.Decide(liveBytes: 0, previousBytes: 0, droppedBefore: 0, capBytes: Cap));
        Assert.Null(SerialLog.Decide(liveBytes: Cap, previousBytes: Cap, droppedBefore: 5, capBytes: Cap));
    }

    [Fact]
    public void A_log_over_the_cap_keeps_its_last_cap_bytes_and_drops_the_rest_with_the_previous_part()
    {
        Assert.Equal(new SerialLog.Rotation(KeepFrom: 1, KeepBytes: Cap, DroppedTotal: 1), SerialLog.Decide(Cap + 1, 0, 0, Cap));
        // A guest that printed far past the cap between two checks: only the cap is copied.
        Assert.Equal(new SerialLog.Rotation(KeepFrom: 99_000, KeepBytes: Cap, DroppedTotal: 7 + 400 + 99_000), SerialLog.Decide(100_000, 400, 7, Cap));
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(500, "[paddock: this log starts mid-way; 500 bytes of earlier output was dropped]\n")]
    [InlineData(2048, "[paddock: this log starts mid-way; 2.0 KiB of earlier output was dropped]\n")]
    [InlineData(129_394_278, "[paddock: this log starts mid-way; 123.4 MiB of earlier output was dropped]\n")]
    public void The_notice_says_how_much_was_dropped(long dropped, string? notice) =>
        Assert.Equal(notice, SerialLog.Notice(dropped));

    [Fact]
    public async Task Rotation_keeps_the_tail_in_dot_1_and_qemu_appending_goes_on_at_the_start_of_the_truncated_log()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        // QEMU opens the log O_APPEND (logappend=on): every write lands at the end, wherever that is now.
        using var qemu = OpenAppending(paths.SerialLog);
        var first = Lines(0, 300);
        Append(qemu, first);

        Assert.Null(await SerialLog.RotateIfOverAsync(paths, capBytes: first.Length));
        var dropped = await SerialLog.RotateIfOverAsync(paths, capBytes: Cap);

        Assert.Equal(first.Length - Cap, dropped);
        Assert.Equal(first[^Cap..], await File.ReadAllTextAsync(paths.SerialLogPrevious));
        Assert.Equal(Mode0600, File.GetUnixFileMode(paths.SerialLogPrevious));
        Assert.Equal(0, new FileInfo(paths.SerialLog).Length);
        Append(qemu, "after the rotation\n");
        Assert.Equal("after the rotation\n", await File.ReadAllTextAsync(paths.SerialLog));
        Assert.Empty(Directory.EnumerateFiles(paths.RunDirectory, "*.tmp"));

        // The second rotation drops the previous part and what is left of the live log before its tail.
        var second = Lines(300, 500);
        Append(qemu, second);
        var live = "after the rotation\n" + second;
        Assert.Equal(first.Length - Cap + Cap + (live.Length - Cap), await SerialLog.RotateIfOverAsync(paths, Cap));
        Assert.Equal(live[^Cap..], await File.ReadAllTextAsync(paths.SerialLogPrevious));
        Assert.Equal(SerialLog.ReadDropped(paths), first.Length + live.Length - Cap);
    }

    [Fact]
    public async Task The_download_starts_with_the_notice_and_holds_what_was_there_when_it_began()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        using var qemu = OpenAppending(paths.SerialLog);
        Append(qemu, Lines(0, 300));
        var dropped = (await SerialLog.RotateIfOverAsync(paths, Cap))!.Value;
        Append(qemu, "newest\n");

        await using var download = SerialLog.OpenDownload(paths);
        // The guest prints on while the download runs: that is not sent.
        Append(qemu, "later\n");
        var text = await new StreamReader(download).ReadToEndAsync();

        Assert.Equal(SerialLog.Notice(dropped) + Lines(0, 300)[^Cap..] + "newest\n", text);
    }

    [Fact]
    public async Task A_log_never_rotated_downloads_as_it_is()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        await File.WriteAllTextAsync(paths.SerialLog, "boot\n");

        await using var download = SerialLog.OpenDownload(paths);

        Assert.Equal("boot\n", await new StreamReader(download).ReadToEndAsync());
    }

    [Fact]
    public async Task A_serial_log_that_is_a_link_is_neither_rotated_nor_truncated_nor_downloaded()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        var host = Path.Join(_root, "host-file");
        await File.WriteAllTextAsync(host, Lines(0, 300));
        File.Delete(paths.SerialLog);
        File.CreateSymbolicLink(paths.SerialLog, host);

        await Assert.ThrowsAsync<IOException>(() => SerialLog.RotateIfOverAsync(paths, Cap));
        Assert.Throws<IOException>(() => SerialLog.OpenDownload(paths).Dispose());

        Assert.Equal(Lines(0, 300), await File.ReadAllTextAsync(host));
        Assert.False(File.Exists(paths.SerialLogPrevious));
    }

    [Fact]
    public async Task A_fifo_in_place_of_the_serial_log_is_refused_without_blocking()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var paths = RunDirectory.Create(VmPaths.For(_root, Guid.NewGuid()), Uid, Gid);
        File.Delete(paths.SerialLog);
        Assert.Equal(0, mkfifo(paths.SerialLog, 0x180));

        await Assert.ThrowsAsync<IOException>(() => SerialLog.RotateIfOverAsync(paths, Cap));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    private static string Lines(int from, int to) =>
        string.Concat(Enumerable.Range(from, to - from).Select(i => $"line {i}\n"));

    private static SafeFileHandle OpenAppending(string path)
    {
        var fd = open(path, 0x1 | 0x400 | 0x80000); // O_WRONLY | O_APPEND | O_CLOEXEC
        Assert.True(fd >= 0, $"open({path}) failed: {Marshal.GetLastPInvokeError()}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    // write(2), not FileStream: .NET keeps its own offset (pwrite), QEMU's O_APPEND writes do not.
    private static void Append(SafeFileHandle handle, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Assert.Equal(bytes.Length, (int)write((int)handle.DangerousGetHandle(), bytes, bytes.Length));
    }

    private static int Uid => (int)geteuid();

    private static int Gid => (int)getegid();

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, byte[] buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int mode);

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc")]
    private static extern uint getegid();
}
