using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Paddock.Engine.Vms;
using Paddock.Host;
using Paddock.Host.Node;

namespace Paddock.Unit.Host.Node;

public sealed class SerialLogKeeperTests : IDisposable
{
    private readonly string _root = Path.Join(Path.GetTempPath(), $"sk-{Guid.NewGuid():N}"[..11]);
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 5, 8, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Each_interval_rotates_the_running_vms_logs_over_the_cap_and_leaves_the_others()
    {
        var options = new AgentOptions { DataDir = _root, SerialLogMaxMiB = 1, SerialLogCheckInterval = TimeSpan.FromSeconds(5) };
        var (loud, quiet, stopped) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var paths = new[] { loud, quiet, stopped }.Select(id => VmPaths.For(options.VmsDir, id)).ToArray();
        foreach (var p in paths)
            Directory.CreateDirectory(p.RunDirectory);
        await File.WriteAllBytesAsync(paths[0].SerialLog, new byte[(1 << 20) + 10]);
        await File.WriteAllTextAsync(paths[1].SerialLog, "quiet\n");
        await File.WriteAllBytesAsync(paths[2].SerialLog, new byte[(1 << 20) + 10]);
        using var keeper = new SerialLogKeeper(Options.Create(options), () => [loud, quiet], _clock, NullLogger<SerialLogKeeper>.Instance);

        await keeper.StartAsync(CancellationToken.None);
        Assert.False(File.Exists(paths[0].SerialLogPrevious));
        await WaitUntilAsync(() => File.Exists(paths[0].SerialLogPrevious) && new FileInfo(paths[0].SerialLog).Length == 0);
        await keeper.StopAsync(CancellationToken.None);

        Assert.Equal(1 << 20, new FileInfo(paths[0].SerialLogPrevious).Length);
        Assert.Equal(10, SerialLog.ReadDropped(paths[0]));
        Assert.Equal("quiet\n", await File.ReadAllTextAsync(paths[1].SerialLog));
        Assert.False(File.Exists(paths[1].SerialLogPrevious));
        Assert.False(File.Exists(paths[2].SerialLogPrevious));
    }

    [Fact]
    public async Task A_vm_whose_log_is_gone_does_not_stop_the_others()
    {
        var options = new AgentOptions { DataDir = _root, SerialLogMaxMiB = 1 };
        var (gone, loud) = (Guid.NewGuid(), Guid.NewGuid());
        var paths = VmPaths.For(options.VmsDir, loud);
        Directory.CreateDirectory(paths.RunDirectory);
        await File.WriteAllBytesAsync(paths.SerialLog, new byte[(1 << 20) + 1]);
        using var keeper = new SerialLogKeeper(Options.Create(options), () => [gone, loud], _clock, NullLogger<SerialLogKeeper>.Instance);

        await keeper.CheckAsync(CancellationToken.None);

        Assert.True(File.Exists(paths.SerialLogPrevious));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Directory.Delete(_root, recursive: true);
    }

    /// <summary>
    /// Lets the fake clock run an interval at a time until <paramref name="condition"/> holds (the
    /// keeper's loop starts on a thread of its own, so one tick may come before its timer exists).
    /// </summary>
    private async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the keeper did not rotate within 10 s");
            _clock.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(20);
        }
    }
}
