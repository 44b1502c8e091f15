using Paddock.Engine.Recipes;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms.Migration;

public sealed class MigrationTextTests
{
    private const long MiB = 1024 * 1024;

    private static MigrationProgress Progress(long transferred = 0, long remaining = 0, long total = 0, long dirty = 0, TimeSpan? downtime = null, double disks = 0) =>
        new(MigrationPhase.Memory, disks, transferred, remaining, total, dirty, downtime);

    [Fact]
    public void The_memory_figures_read_in_mib_and_say_nothing_before_the_memory_phase()
    {
        Assert.Equal("not started", MigrationText.Ram(Progress()));
        Assert.Equal("96 MiB moved, 160 MiB remaining, of 256 MiB", MigrationText.Ram(Progress(96 * MiB, 160 * MiB, 256 * MiB)));
    }

    [Fact]
    public void The_dirty_rate_reads_in_mib_per_second_and_the_downtime_in_milliseconds()
    {
        Assert.Equal("12 MiB/s", MigrationText.DirtyRate(12 * MiB));
        Assert.Equal("0 MiB/s", MigrationText.DirtyRate(-5));
        Assert.Equal("300 ms", MigrationText.Downtime(TimeSpan.FromMilliseconds(299.6)));
        Assert.Equal("not known yet", MigrationText.Downtime(null));
    }

    [Theory]
    [InlineData(41.6, 42)]
    [InlineData(-3, 0)]
    [InlineData(100.4, 100)]
    [InlineData(double.NaN, 0)]
    [InlineData(double.PositiveInfinity, 0)]
    public void The_disk_copy_is_a_whole_percent_from_0_to_100_whatever_qemu_counted(double reported, double shown) =>
        Assert.Equal(shown, MigrationText.DiskPercent(reported));

    [Fact]
    public void Every_step_and_phase_has_words()
    {
        Assert.All(Enum.GetValues<MigrationStep>(), step => Assert.NotEqual(step.ToString(), MigrationText.Step(step)));
        Assert.All(Enum.GetValues<MigrationPhase>().Where(p => p != MigrationPhase.Completed),
            phase => Assert.NotEqual(phase.ToString(), MigrationText.Phase(phase)));
    }
}
