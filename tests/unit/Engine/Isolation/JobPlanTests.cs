using System.Runtime.InteropServices;
using Paddock.Engine.Hosting;
using Paddock.Engine.Isolation;

namespace Paddock.Unit.Engine.Isolation;

public sealed class JobPlanTests
{
    private static readonly Guid Vm = Guid.Parse("6f1c1c9e-8a0b-4d55-9a53-0c1a2b3c4d5e");

    [Fact]
    public void A_vm_without_cpu_limits_gets_the_cgroups_memory_bound_one_process_and_a_job_that_outlives_the_agent()
    {
        var plan = JobPlan.For(Vm, 512, Accelerator.Whpx, cpuWeight: null, cpuLimitPercent: null, hostCpus: 8);

        Assert.Equal(@"Global\Paddock-VM-6f1c1c9e-8a0b-4d55-9a53-0c1a2b3c4d5e", plan.Name);
        Assert.Equal(BoundsCgroup.MemoryBytes(512, Accelerator.Whpx), plan.MemoryBytes);
        Assert.Equal(JobPlan.LimitJobMemory | JobPlan.LimitActiveProcess | JobPlan.LimitDieOnUnhandledException, plan.LimitFlags);
        Assert.Equal(0u, plan.LimitFlags & JobPlan.LimitKillOnJobClose);
        Assert.Equal(0u, plan.CpuControlFlags);
        Assert.Empty(plan.NotApplied);
    }

    [Theory]
    [InlineData(100, 8, 1250)]
    [InlineData(50, 2, 2500)]
    [InlineData(800, 4, 10_000)]
    [InlineData(1, 64, 1)]
    public void A_cap_in_per_cent_of_one_cpu_becomes_hundredths_of_a_per_cent_of_the_machine(int percent, int cpus, uint value)
    {
        var plan = JobPlan.For(Vm, 256, Accelerator.Whpx, null, percent, cpus);

        Assert.Equal(JobPlan.CpuRateControlEnable | JobPlan.CpuRateControlHardCap, plan.CpuControlFlags);
        Assert.Equal(value, plan.CpuValue);
    }

    [Theory]
    [InlineData(100, 5u)]
    [InlineData(200, 6u)]
    [InlineData(50, 4u)]
    [InlineData(10_000, 9u)]
    [InlineData(1, 1u)]
    public void A_weight_becomes_windows_one_to_nine_one_step_per_doubling(int weight, uint value)
    {
        var plan = JobPlan.For(Vm, 256, Accelerator.Whpx, weight, null, 4);

        Assert.Equal(JobPlan.CpuRateControlEnable | JobPlan.CpuRateControlWeightBased, plan.CpuControlFlags);
        Assert.Equal(value, plan.CpuValue);
    }

    [Fact]
    public void With_both_a_cap_and_a_weight_the_cap_is_applied_and_the_weight_is_said_not_to_be()
    {
        var plan = JobPlan.For(Vm, 256, Accelerator.Whpx, 400, 100, 4);

        Assert.Equal(JobPlan.CpuRateControlEnable | JobPlan.CpuRateControlHardCap, plan.CpuControlFlags);
        Assert.Equal(["CPU weight: a Windows job takes a CPU cap or a weight, not both"], plan.NotApplied);
    }

    [Fact]
    public void The_job_structures_have_the_sizes_kernel32_expects_on_64_bit_windows()
    {
        Assert.Equal(WindowsJob.ExtendedLimits.Size, Marshal.SizeOf<WindowsJob.ExtendedLimits>());
        Assert.Equal(WindowsJob.CpuRateControl.Size, Marshal.SizeOf<WindowsJob.CpuRateControl>());
    }
}
