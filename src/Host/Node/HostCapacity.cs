using System.Diagnostics;
using System.Text.RegularExpressions;
using Paddock.Engine.Hosting;

namespace Paddock.Host.Node;

/// <summary>What this machine offers, as registered with the portal.</summary>
public sealed partial record HostCapacity(int LogicalCpus, long MemoryBytes, long DiskBytes, string QemuVersion, int NumaNodes, long HugePagesTotal,
    long HugePageBytes, bool KsmAvailable, string? KsmNote)
{
    /// <summary>This machine through its operating system's <paramref name="probe"/>, capped by what the options declare.</summary>
    public static HostCapacity Probe(AgentOptions options, IHostProbe probe)
    {
        Directory.CreateDirectory(options.VmsDir);
        var memory = probe.Memory();
        var total = memory.TotalBytes;
        if (options.DeclaredMemoryMiB is { } declared)
        {
            total = Math.Min(total, declared * 1024L * 1024);
        }

        var cpus = Math.Min(Environment.ProcessorCount, options.DeclaredCpus ?? int.MaxValue);
        var disk = new DriveInfo(options.VmsDir).TotalSize;
        if (options.DeclaredDiskGiB is { } declaredDisk)
        {
            disk = Math.Min(disk, declaredDisk * 1024L * 1024 * 1024);
        }

        var (ksm, ksmNote) = probe.Ksm();
        return new HostCapacity(cpus, total, disk, ReadQemuVersion(options.QemuBinary), probe.NumaNodes(), memory.HugePagesTotal, memory.HugePageBytes,
            ksm, ksmNote);
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

    [GeneratedRegex(@"version (\S+)")]
    private static partial Regex VersionPattern();
}
