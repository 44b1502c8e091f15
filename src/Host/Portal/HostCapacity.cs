using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Paddock.Host.Portal;

/// <summary>What this machine offers, as registered with the portal.</summary>
public sealed partial record HostCapacity(long MemoryBytes, long DiskBytes, string QemuVersion)
{
    public static HostCapacity Probe(AgentOptions options)
    {
        Directory.CreateDirectory(options.VmsDir);
        var memory = ReadMemoryBytes();
        if (options.DeclaredMemoryMiB is { } declared)
        {
            memory = Math.Min(memory, declared * 1024L * 1024);
        }

        return new HostCapacity(memory, new DriveInfo(options.VmsDir).TotalSize, ReadQemuVersion(options.QemuBinary));
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
