using Paddock.Engine.Hosting;

namespace Paddock.Engine.Isolation;

/// <summary>
/// Where a VM's QEMU gets its CPU weight and cap and its memory and task bounds: cgroups on Linux
/// (<see cref="LinuxProcessBounds"/>), a job object on Windows (<see cref="WindowsProcessBounds"/>).
/// One is chosen at start. Each says what it applied ("what (where)") and what it could not
/// ("what: why"); a bound that cannot be applied never stops the VM.
/// </summary>
public interface IProcessBounds
{
    void Apply(BoundsRequest request, ICollection<string> applied, ICollection<string> missed);

    /// <summary>Lets go of what the VM held once its QEMU is gone.</summary>
    void Release(Guid vmId);
}

/// <summary>What one VM's QEMU (process <paramref name="Pid"/>) is to be held to.</summary>
public sealed record BoundsRequest(Guid VmId, int Pid, int MemoryMiB, Accelerator Accelerator, int? CpuWeight, int? CpuLimitPercent);

/// <summary>Linux: the VM's cgroups, the CPU controller's and the memory and pids controllers'.</summary>
public sealed class LinuxProcessBounds(CpuCgroup cpu, BoundsCgroup bounds) : IProcessBounds
{
    public void Apply(BoundsRequest request, ICollection<string> applied, ICollection<string> missed)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.CpuWeight is not null || request.CpuLimitPercent is not null)
        {
            BoundsNotes.Try(CpuWords(request), () => cpu.Apply(request.VmId, request.Pid, request.CpuWeight, request.CpuLimitPercent), applied, missed);
        }

        var memory = BoundsCgroup.MemoryBytes(request.MemoryMiB, request.Accelerator);
        BoundsNotes.Try($"memory {memory / (1024 * 1024)} MiB", () => bounds.BoundMemory(request.VmId, request.Pid, memory), applied, missed);
        BoundsNotes.Try($"{BoundsCgroup.PidsMax} tasks", () => bounds.BoundPids(request.VmId, request.Pid, BoundsCgroup.PidsMax), applied, missed);
    }

    public void Release(Guid vmId)
    {
        cpu.Remove(vmId);
        bounds.Remove(vmId);
    }

    /// <summary>"CPU weight 200, CPU cap 50%": the flavor's CPU limits in words.</summary>
    private static string CpuWords(BoundsRequest request) => string.Join(", ",
        new[] { request.CpuWeight is { } w ? $"CPU weight {w}" : null, request.CpuLimitPercent is { } p ? $"CPU cap {p}%" : null }.OfType<string>());
}

/// <summary>Windows: one job object per VM (<see cref="JobPlan"/>, <see cref="WindowsJob"/>), which ends with its last process.</summary>
public sealed class WindowsProcessBounds(int hostCpus) : IProcessBounds
{
    public void Apply(BoundsRequest request, ICollection<string> applied, ICollection<string> missed)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(missed);
        var plan = JobPlan.For(request.VmId, request.MemoryMiB, request.Accelerator, request.CpuWeight, request.CpuLimitPercent, hostCpus);
        var cpu = (plan.CpuControlFlags & JobPlan.CpuRateControlHardCap) != 0 ? $", CPU cap {request.CpuLimitPercent}%"
            : (plan.CpuControlFlags & JobPlan.CpuRateControlWeightBased) != 0 ? $", CPU weight {request.CpuWeight}"
            : "";
        BoundsNotes.Try($"memory {plan.MemoryBytes / (1024 * 1024)} MiB, 1 process{cpu}", () => WindowsJob.Apply(plan, request.Pid), applied, missed);
        foreach (var word in plan.NotApplied)
        {
            missed.Add(word);
        }
    }

    public void Release(Guid vmId)
    {
    }
}

/// <summary>How a bound is told on the VM's page, whichever OS applied it.</summary>
internal static class BoundsNotes
{
    /// <summary>Runs a bound, noting "<paramref name="what"/> (where)" as applied or "<paramref name="what"/>: why" as missed.</summary>
    public static void Try(string what, Func<string> apply, ICollection<string> applied, ICollection<string> missed)
    {
        try
        {
            applied.Add($"{what} ({apply()})");
        }
        catch (IOException e)
        {
            missed.Add($"{what}: {e.Message}");
        }
    }
}
