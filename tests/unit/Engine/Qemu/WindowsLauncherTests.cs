using System.Runtime.InteropServices;
using Paddock.Engine.Qemu;

namespace Paddock.Unit.Engine.Qemu;

public sealed class WindowsLauncherTests
{
    [Theory]
    [InlineData(new[] { @"C:\Program Files\qemu\qemu-system-x86_64.exe", "-name", "guest=x" },
        @"""C:\Program Files\qemu\qemu-system-x86_64.exe"" -name guest=x")]
    [InlineData(new[] { "a", "" }, @"a """"")]
    [InlineData(new[] { "say \"hi\"" }, @"""say \""hi\""""")]
    [InlineData(new[] { @"C:\dir with space\" }, @"""C:\dir with space\\""")]
    [InlineData(new[] { @"a\\b", @"c\\""d" }, @"a\\b ""c\\\\\""d""")]
    [InlineData(new[] { "file=C:\\vms\\disk.qcow2,,x" }, @"file=C:\vms\disk.qcow2,,x")]
    public void A_command_line_splits_back_into_the_same_arguments_by_the_runtimes_rules(string[] argv, string expected) =>
        Assert.Equal(expected, WindowsLauncher.CommandLine(argv));

    [Fact]
    public void The_environment_block_is_sorted_without_regard_to_case_and_ends_with_two_nuls() =>
        Assert.Equal("PATH=C:\\qemu\0SystemRoot=C:\\Windows\0\0",
            WindowsLauncher.EnvironmentBlock(new Dictionary<string, string> { ["SystemRoot"] = @"C:\Windows", ["PATH"] = @"C:\qemu" }));

    [Fact]
    public void Startupinfo_has_the_size_createprocess_expects_on_64_bit_windows() =>
        Assert.Equal(WindowsLauncher.StartupInfo.ExpectedSize, Marshal.SizeOf<WindowsLauncher.StartupInfo>());
}
