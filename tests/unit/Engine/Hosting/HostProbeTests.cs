using System.Runtime.InteropServices;
using Paddock.Engine.Hosting;

namespace Paddock.Unit.Engine.Hosting;

public sealed class HostProbeTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("paddock-probe-").FullName;

    [Fact]
    public void Meminfo_gives_the_total_and_the_huge_page_pool_in_bytes()
    {
        var memory = LinuxHostProbe.ParseMeminfo([
            "MemTotal:       24607428 kB",
            "MemFree:         1022148 kB",
            "HugePages_Total:      16",
            "HugePages_Free:       16",
            "Hugepagesize:       2048 kB",
        ]);

        Assert.Equal(new HostMemory(24607428L * 1024, 16, 2 * 1024 * 1024), memory);
    }

    [Fact]
    public void Meminfo_without_a_total_falls_back_to_what_the_runtime_sees_and_ignores_what_it_cannot_read()
    {
        var memory = LinuxHostProbe.ParseMeminfo(["MemTotal: lots", "garbage", "HugePages_Total: -", ""]);

        Assert.Equal(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, memory.TotalBytes);
        Assert.Equal(0, memory.HugePagesTotal);
    }

    [Fact]
    public void Numa_nodes_are_the_numbered_node_directories_and_at_least_one()
    {
        var probe = new LinuxHostProbe(Path.Combine(_root, "proc"), Path.Combine(_root, "sys"));
        Assert.Equal(1, probe.NumaNodes());

        foreach (var name in new[] { "node0", "node1", "nodeX", "possible" })
        {
            Directory.CreateDirectory(Path.Combine(_root, "sys/devices/system/node", name));
        }

        Assert.Equal(2, probe.NumaNodes());
    }

    [Fact]
    public void Ksm_is_available_where_its_switch_opens_for_writing_and_otherwise_says_why_not()
    {
        var probe = new LinuxHostProbe(Path.Combine(_root, "proc"), Path.Combine(_root, "sys"));
        Assert.Equal((false, "The kernel has no KSM (no /sys/kernel/mm/ksm)."), probe.Ksm());

        Directory.CreateDirectory(Path.GetDirectoryName(probe.KsmRun)!);
        File.WriteAllText(probe.KsmRun, "0\n");

        Assert.Equal((true, null), probe.Ksm());
    }

    [Theory]
    [InlineData(0, 1, null)]
    [InlineData(0, 0, "the hypervisor is not running: turn the Windows Hypervisor Platform feature on and restart")]
    [InlineData(unchecked((int)0x80070005), 1, "WHvGetCapability failed (HRESULT 0x80070005)")]
    public void The_windows_hypervisor_platform_is_usable_only_when_the_query_succeeds_and_the_hypervisor_runs(int hresult, int present, string? why) =>
        Assert.Equal(why, WindowsHostProbe.WhpVerdict(hresult, present));

    [Fact]
    public void The_windows_memory_status_has_the_layout_kernel32_expects() =>
        Assert.Equal(WindowsHostProbe.MemoryStatus.Size, Marshal.SizeOf<WindowsHostProbe.MemoryStatus>());

    [Fact]
    public void The_probe_chosen_at_start_is_this_operating_systems()
    {
        var probe = HostProbes.ForThisOs();

        Assert.Equal(OperatingSystem.IsLinux() ? HostOs.Linux : OperatingSystem.IsWindows() ? HostOs.Windows : HostOs.Other, probe.Os);
        Assert.Equal(probe.Os, probe.Accelerator().Os);
        Assert.True(probe.Memory().TotalBytes > 0);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
