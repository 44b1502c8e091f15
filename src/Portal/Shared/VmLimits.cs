using Paddock.Engine.Vms;

namespace Paddock.Portal.Shared;

/// <summary>Noisy-neighbour limits in words.</summary>
public static class VmLimits
{
    public static string Describe(ResourceLimits limits)
    {
        var parts = new[]
        {
            limits.CpuWeight is { } w ? $"CPU weight {w}" : null,
            limits.CpuLimitPercent is { } p ? $"CPU cap {p}%" : null,
            limits.DiskIops is { } i ? $"{i} IOPS" : null,
            limits.DiskBytesPerSecond is { } b ? $"{b / (1024 * 1024)} MiB/s" : null,
            limits.BalloonFloorMiB is { } f ? $"balloon floor {f} MiB" : null,
        }.OfType<string>().ToList();
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }
}
