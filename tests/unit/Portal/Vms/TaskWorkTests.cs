using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

/// <summary>A running task's progress as the task list writes it: per cent, how much of what, and the time left at its pace so far.</summary>
public sealed class TaskWorkTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 13, 0, 0, TimeSpan.Zero);

    private static WorkReported Report(long done, long total, string unit, double seconds) => new(Guid.Empty, Guid.Empty, done, total, unit, T0.AddSeconds(seconds));

    [Fact]
    public void The_first_report_has_no_estimate_and_later_ones_estimate_from_the_pace_since_it()
    {
        var first = TaskWork.First(Report(0, 256L << 20, "bytes", 0));
        Assert.Null(first.Left);
        Assert.Equal("0 % · 0 B of 256 MiB", first.Text);

        var later = first.Then(Report(64L << 20, 256L << 20, "bytes", 2));
        Assert.Equal(TimeSpan.FromSeconds(6), later.Left);
        Assert.Equal("25 % · 64 MiB of 256 MiB · about 6 s left", later.Text);
    }

    [Fact]
    public void Characters_are_counted_and_long_waits_are_in_minutes()
    {
        var work = TaskWork.First(Report(10, 2000, "characters", 0)).Then(Report(20, 2000, "characters", 1));
        Assert.Equal("1 % · 20 of 2000 characters · about 4 min left", work.Text);
    }

    [Fact]
    public void A_task_that_has_not_moved_has_no_estimate_and_a_total_of_nothing_is_no_division()
    {
        Assert.Null(TaskWork.First(Report(5, 10, "bytes", 0)).Then(Report(5, 10, "bytes", 3)).Left);
        Assert.Equal(0, TaskWork.First(Report(0, 0, "bytes", 0)).Percent);
    }
}
