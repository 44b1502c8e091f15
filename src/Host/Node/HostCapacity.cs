using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Paddock.Host.Node;

/// <summary>What this machine offers, as registered with the portal.</summary>
public sealed partial record HostCapacity(int LogicalCpus, long MemoryBytes, long DiskBytes, string QemuVersion, int NumaNodes, long HugePagesTotal,
    long HugePageBytes, bool KsmAvailable, string? KsmNote)
{
    public const string KsmRun = "/sys/kernel/mm/ksm/run";

    public static HostCapacity Probe(AgentOptions options)
    {
        Directory.CreateDirectory(options.VmsDir);
        var memory = ReadMemoryBytes();
        if (options.DeclaredMemoryMiB is { } declared)
        {
            memory = Math.Min(memory, declared * 1024L * 1024);
        }

        var cpus = Math.Min(Environment.ProcessorCount, options.DeclaredCpus ?? int.MaxValue);
        var disk = new DriveInfo(options.VmsDir).TotalSize;
        if (options.DeclaredDiskGiB is { } declaredDisk)
        {
            disk = Math.Min(disk, declaredDisk * 1024L * 1024 * 1024);
        }

        var (hugePages, hugePageBytes) = ReadHugePages();
        var (ksm, ksmNote) = ProbeKsm();
        return new HostCapacity(cpus, memory, disk, ReadQemuVersion(options.QemuBinary), CountNumaNodes(), hugePages, hugePageBytes, ksm, ksmNote);
    }

    private static int CountNumaNodes()
    {
        const string nodes = "/sys/devices/system/node";
        return Directory.Exists(nodes) ? Math.Max(1, Directory.GetDirectories(nodes, "node*").Count(d => int.TryParse(Path.GetFileName(d)[4..], out _))) : 1;
    }

    private static (long Total, long PageBytes) ReadHugePages()
    {
        long total = 0, size = 0;
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            var parts = line.Split(':', StringSplitOptions.TrimEntries);
            if (parts is ["HugePages_Total", var t] && long.TryParse(t, out var pages))
            {
                total = pages;
            }
            else if (parts is ["Hugepagesize", var s] && long.TryParse(s.Split(' ')[0], out var kib))
            {
                size = kib * 1024;
            }
        }

        return (total, size);
    }

    /// <summary>KSM is there when the kernel has it (CONFIG_KSM) and this process may switch it (root, a writable sysfs).</summary>
    private static (bool Available, string? Note) ProbeKsm()
    {
        if (!File.Exists(KsmRun))
        {
            return (false, "The kernel has no KSM (no /sys/kernel/mm/ksm).");
        }

        try
        {
            using var probe = new FileStream(KsmRun, FileMode.Open, FileAccess.ReadWrite);
            return (true, null);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return (false, $"KSM cannot be switched from here: {e.Message}");
        }
    }

    private static long ReadMemoryBytes()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            var match = MemTotal().Match(line);
            if (match.Success)
            {
                return long.Parse(match.Groups[1].Value) * 1024;
            }
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    private static string ReadQemuVersion(string binary)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(binary, "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
            var first = process.StandardOutput.ReadLine() ?? "";
            process.WaitForExit(5000);
            var match = VersionPattern().Match(first);
            return match.Success ? match.Groups[1].Value : first;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "missing";
        }
    }

    [GeneratedRegex(@"^MemTotal:\s+(\d+) kB")]
    private static partial Regex MemTotal();

    [GeneratedRegex(@"version (\S+)")]
    private static partial Regex VersionPattern();
}
