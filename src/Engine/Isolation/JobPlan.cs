using Paddock.Engine.Hosting;

namespace Paddock.Engine.Isolation;

/// <summary>
/// What a Windows job object holds for one VM's QEMU: the counterpart of <see cref="BoundsCgroup"/>
/// and <see cref="CpuCgroup"/> on Linux, worked out here and applied by <see cref="WindowsJob"/>.
/// </summary>
/// <param name="Name">The job's name in the global namespace: an agent restarted as a service opens it again by name.</param>
/// <param name="MemoryBytes">The job's memory bound: the same as the cgroup's (<see cref="BoundsCgroup.MemoryBytes"/>).</param>
/// <param name="LimitFlags">JOB_OBJECT_LIMIT_* flags: job memory, one active process, no error boxes; never kill-on-close.</param>
/// <param name="CpuControlFlags">JOB_OBJECT_CPU_RATE_CONTROL_* flags, 0 for no CPU control.</param>
/// <param name="CpuValue">The hard cap in 1/100 of a per cent of the whole machine, or the weight 1 to 9.</param>
/// <param name="NotApplied">What the VM's limits ask that a job cannot give, in words for the VM's page.</param>
public sealed record JobPlan(string Name, long MemoryBytes, uint LimitFlags, uint CpuControlFlags, uint CpuValue, IReadOnlyList<string> NotApplied)
{
    public const uint LimitActiveProcess = 0x8;
    public const uint LimitDieOnUnhandledException = 0x400;
    public const uint LimitJobMemory = 0x200;

    /// <summary>Closing the last handle ends every process in the job: never set, so that QEMU outlives an agent restart.</summary>
    public const uint LimitKillOnJobClose = 0x2000;

    public const uint CpuRateControlEnable = 0x1;
    public const uint CpuRateControlWeightBased = 0x2;
    public const uint CpuRateControlHardCap = 0x4;

    /// <summary>
    /// The plan for a VM of <paramref name="memoryMiB"/> on a host of <paramref name="hostCpus"/>:
    /// a CPU cap given in per cent of one CPU becomes a share of the whole machine; a weight (1 to
    /// 10,000, 100 the default, as cgroups take it) becomes Windows' 1 to 9 (5 the default), one step
    /// per doubling. Windows takes a cap or a weight, not both: the cap wins and the weight is said
    /// not applied.
    /// </summary>
    public static JobPlan For(Guid vmId, int memoryMiB, Accelerator accelerator, int? cpuWeight, int? cpuLimitPercent, int hostCpus)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hostCpus, 1);
        var flags = LimitJobMemory | LimitActiveProcess | LimitDieOnUnhandledException;
        var notApplied = new List<string>();
        uint control = 0, value = 0;
        if (cpuLimitPercent is { } percent)
        {
            control = CpuRateControlEnable | CpuRateControlHardCap;
            value = (uint)Math.Clamp((long)percent * 100 / hostCpus, 1, 10_000);
            if (cpuWeight is not null)
                notApplied.Add("CPU weight: a Windows job takes a CPU cap or a weight, not both");
        }
        else if (cpuWeight is { } weight)
        {
            control = CpuRateControlEnable | CpuRateControlWeightBased;
            value = (uint)Math.Clamp(5 + (int)Math.Round(Math.Log2(weight / 100.0)), 1, 9);
        }

        return new JobPlan(NameOf(vmId), BoundsCgroup.MemoryBytes(memoryMiB, accelerator), flags, control, value, notApplied);
    }

    /// <summary>The job of VM <paramref name="vmId"/>: one name for creating it and for finding it again.</summary>
    public static string NameOf(Guid vmId) => $@"Global\Paddock-VM-{vmId:D}";
}
