using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

/// <summary>How a VM's samples are made from its usage reports' counters, kept for an hour, and written.</summary>
public sealed class VmSeriesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    private static VmUsage Usage(double cpu, VmIo? io = null, long rss = 100 << 20) => new(Guid.Empty, rss, cpu, Io: io);

    private static VmIo Io(long read, long written, long? received = null, long? balloon = null) =>
        new(read, written, read / 4096, written / 4096, received, received, received / 1000, received / 1000, balloon);

    [Fact]
    public void The_first_report_is_a_baseline_and_the_next_makes_rates_over_the_interval()
    {
        var series = new VmSeries();
        Assert.False(series.Add(T0, Usage(10, Io(0, 0, 0, 256 << 20))));
        Assert.True(series.Add(T0.AddSeconds(5), Usage(12.5, Io(5 << 20, 10 << 20, 50_000, 256 << 20))));
        var sample = Assert.Single(series.Since(T0));
        Assert.Equal(T0.AddSeconds(5), sample.At);
        Assert.Equal(0.5f, sample.CpuCores);
        Assert.Equal(1 << 20, sample.DiskReadBytes);
        Assert.Equal(2 << 20, sample.DiskWriteBytes);
        Assert.Equal(256, sample.DiskReadOps);
        Assert.Equal(10_000, sample.NetReceivedBytes);
        Assert.Equal(10, sample.NetSentPackets);
        Assert.Equal(256 << 20, sample.BalloonBytes);
        Assert.Equal(100 << 20, sample.RssBytes);
    }

    [Fact]
    public void A_report_no_newer_than_the_last_adds_nothing()
    {
        var series = new VmSeries();
        series.Add(T0, Usage(1));
        series.Add(T0.AddSeconds(5), Usage(2));
        Assert.False(series.Add(T0.AddSeconds(5), Usage(3)));
        Assert.False(series.Add(T0.AddSeconds(4), Usage(3)));
        Assert.Single(series.Since(T0));
    }

    [Fact]
    public void Figures_the_host_does_not_give_are_not_a_number_and_a_counter_that_went_back_gives_no_rate()
    {
        var series = new VmSeries();
        series.Add(T0, Usage(5, Io(4096, 0)));
        series.Add(T0.AddSeconds(5), Usage(6, Io(8192, 0)));
        var sample = series.Latest!.Value;
        Assert.True(float.IsNaN(sample.NetReceivedBytes) && float.IsNaN(sample.BalloonBytes));
        Assert.Equal(4096 / 5f, sample.DiskReadBytes);

        // A new QEMU: its counters start from 0 again. No rate for that interval; the next is right.
        Assert.False(series.Add(T0.AddSeconds(10), Usage(0.1, Io(0, 0))));
        Assert.True(series.Add(T0.AddSeconds(15), Usage(1.1, Io(5 << 10, 0))));
        Assert.Equal(0.2f, series.Latest!.Value.CpuCores, 3);
        Assert.Equal(1 << 10, series.Latest!.Value.DiskReadBytes);
    }

    [Fact]
    public void A_round_without_io_figures_leaves_a_gap_and_the_next_rate_spans_both_intervals()
    {
        var series = new VmSeries();
        series.Add(T0, Usage(0, Io(0, 0)));
        series.Add(T0.AddSeconds(5), Usage(1));
        Assert.True(float.IsNaN(series.Latest!.Value.DiskReadBytes));
        series.Add(T0.AddSeconds(10), Usage(2, Io(10_000, 0)));
        Assert.Equal(1_000, series.Latest!.Value.DiskReadBytes);
    }

    [Fact]
    public void An_hour_at_five_seconds_is_kept_and_older_samples_make_room()
    {
        var series = new VmSeries();
        for (var i = 0; i <= VmSeries.Capacity + 10; i++)
        {
            series.Add(T0.AddSeconds(5 * i), Usage(i));
        }

        var all = series.Since(DateTimeOffset.MinValue);
        Assert.Equal(VmSeries.Capacity, all.Count);
        Assert.Equal(T0.AddSeconds(5 * 11), all[0].At);
        Assert.Equal(T0.AddSeconds(5 * (VmSeries.Capacity + 10)), all[^1].At);
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.AtMs < p.Second.AtMs));
        Assert.Equal(12, series.Since(T0.AddSeconds(5 * (VmSeries.Capacity - 2))).Count);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(-3, 1)]
    [InlineData(0.7, 1)]
    [InlineData(1, 1)]
    [InlineData(1.01, 2)]
    [InlineData(3, 5)]
    [InlineData(7.5, 10)]
    [InlineData(120_000, 200_000)]
    public void A_charts_scale_ends_at_one_two_or_five_times_a_power_of_ten(double highest, double top) =>
        Assert.Equal(top, StatScale.NiceCeiling(highest), 6);

    [Theory]
    [InlineData(512, "512 B/s")]
    [InlineData(1536, "1.5 KiB/s")]
    [InlineData(20 * 1048576.0, "20 MiB/s")]
    [InlineData(150 * 1048576.0, "150 MiB/s")]
    public void Rates_are_written_in_binary_steps(double value, string text) =>
        Assert.Equal(text, StatScale.BytesPerSecond(value));
}
