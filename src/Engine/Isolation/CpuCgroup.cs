using System.Globalization;

namespace Paddock.Engine.Isolation;

/// <summary>
/// Puts a VM's QEMU into a cgroup of its own under <c>paddock/</c> with a CPU weight and cap:
/// cgroup v2 (cpu.weight, cpu.max) where the unified hierarchy has the cpu controller, otherwise
/// cgroup v1 (cpu.shares, cpu.cfs_quota_us). Says what it could not do instead of failing the VM.
/// </summary>
public sealed class CpuCgroup(string root = "/sys/fs/cgroup")
{
    public const int Period = 100_000;

    /// <summary>The files and values for cgroup v2: cpu.weight as given, cpu.max as quota and period in microseconds.</summary>
    public static IReadOnlyList<(string File, string Value)> V2Values(int? weight, int? limitPercent) =>
    [
        .. weight is { } w ? new[] { ("cpu.weight", w.ToString(CultureInfo.InvariantCulture)) } : [],
        ("cpu.max", limitPercent is { } p ? $"{p * (Period / 100)} {Period}" : $"max {Period}"),
    ];

    /// <summary>The files and values for cgroup v1: cpu.shares scales the weight (100 is 1024), cpu.cfs_quota_us -1 is no cap.</summary>
    public static IReadOnlyList<(string File, string Value)> V1Values(int? weight, int? limitPercent) =>
    [
        .. weight is { } w ? new[] { ("cpu.shares", Math.Max(2, w * 1024 / 100).ToString(CultureInfo.InvariantCulture)) } : [],
        ("cpu.cfs_period_us", Period.ToString(CultureInfo.InvariantCulture)),
        ("cpu.cfs_quota_us", limitPercent is { } p ? (p * (Period / 100)).ToString(CultureInfo.InvariantCulture) : "-1"),
    ];

    /// <summary>The VM's cgroup directory, or null when neither hierarchy has a cpu controller here.</summary>
    public string? DirectoryOf(Guid vmId) => Layout() switch
    {
        2 => Path.Combine(root, "paddock", vmId.ToString("D")),
        1 => Path.Combine(root, "cpu", "paddock", vmId.ToString("D")),
        _ => null,
    };

    /// <summary>
    /// Applies the limits to process <paramref name="pid"/>; returns what was applied, or throws
    /// <see cref="IOException"/> naming what could not be.
    /// </summary>
    public string Apply(Guid vmId, int pid, int? weight, int? limitPercent)
    {
        var layout = Layout();
        if (layout == 0)
        {
            throw new IOException($"No cgroup cpu controller under {root} (neither cgroup v2 with cpu nor v1 cpu).");
        }

        var dir = DirectoryOf(vmId)!;
        try
        {
            if (layout == 2)
            {
                // Controllers must be enabled down the path for the leaf to have cpu.* files.
                Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
                File.AppendAllText(Path.Combine(root, "cgroup.subtree_control"), "+cpu");
                File.AppendAllText(Path.Combine(root, "paddock", "cgroup.subtree_control"), "+cpu");
            }

            Directory.CreateDirectory(dir);
            foreach (var (file, value) in layout == 2 ? V2Values(weight, limitPercent) : V1Values(weight, limitPercent))
            {
                File.WriteAllText(Path.Combine(dir, file), value);
            }

            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cgroup {dir}: {e.Message}", e);
        }

        return $"cgroup v{layout} {dir}";
    }

    /// <summary>Removes the VM's cgroup once its QEMU is gone (an empty cgroup can be removed).</summary>
    public void Remove(Guid vmId)
    {
        if (DirectoryOf(vmId) is { } dir && Directory.Exists(dir))
        {
            try
            {
                Directory.Delete(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Still has a process, or was never ours to remove: the next start reuses it.
            }
        }
    }

    private int Layout()
    {
        var controllers = Path.Combine(root, "cgroup.controllers");
        if (File.Exists(controllers) && File.ReadAllText(controllers).Split(' ', StringSplitOptions.TrimEntries).Contains("cpu"))
        {
            return 2;
        }

        return File.Exists(Path.Combine(root, "cpu", "cpu.shares")) ? 1 : 0;
    }
}
