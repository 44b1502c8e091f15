using System.Text.Json;
using Paddock.Engine.Qmp;

namespace Paddock.Unit.Engine.Qmp;

/// <summary>query-blockstats and query-balloon as QEMU 7.2 answers them, and as a hostile QEMU might: what does not read as a counter counts 0.</summary>
public sealed class QmpStatsTests
{
    [Fact]
    public void Block_stats_read_each_devices_bytes_and_operations()
    {
        var reply = JsonDocument.Parse("""
            [{"device": "", "qdev": "/machine/peripheral/disk0/virtio-backend", "node-name": "disk0",
              "stats": {"rd_bytes": 1024, "wr_bytes": 2048, "rd_operations": 3, "wr_operations": 4, "flush_operations": 9}},
             {"device": "cd0", "stats": {"rd_bytes": 10, "wr_bytes": 0, "rd_operations": 1, "wr_operations": 0}}]
            """).RootElement;
        var stats = QmpBlockStats.ListFrom(reply);
        Assert.Equal(
            [new QmpBlockStats("/machine/peripheral/disk0/virtio-backend", 1024, 2048, 3, 4), new QmpBlockStats(null, 10, 0, 1, 0)],
            stats);
    }

    [Theory]
    [InlineData("""{"return": 1}""")]
    [InlineData("""[1, "x", null]""")]
    [InlineData("""[{"qdev": 7, "stats": {"rd_bytes": -5, "wr_bytes": 1e400, "rd_operations": "3", "wr_operations": 18446744073709551615}}]""")]
    public void What_does_not_read_as_a_counter_counts_nothing(string json)
    {
        var stats = QmpBlockStats.ListFrom(JsonDocument.Parse(json).RootElement);
        Assert.All(stats, s => Assert.Equal(new QmpBlockStats(null, 0, 0, 0, 0), s));
    }

    [Theory]
    [InlineData("""{"actual": 268435456}""", 268435456L)]
    [InlineData("""{"actual": -1}""", null)]
    [InlineData("""{"actual": "big"}""", null)]
    [InlineData("""[]""", null)]
    public void The_balloon_reads_its_actual_size(string json, long? expected) =>
        Assert.Equal(expected, QmpBalloon.From(JsonDocument.Parse(json).RootElement).ActualBytes);
}
