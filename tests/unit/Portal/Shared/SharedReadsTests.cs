using Microsoft.Extensions.Time.Testing;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

public sealed class SharedReadsTests
{
    private readonly FakeTimeProvider _clock = new();
    private int _reads;

    private SharedReads Reads() => new(_clock);

    /// <summary>A read that ends when <paramref name="gate"/> opens, counting itself.</summary>
    private Func<Task<string>> Read(TaskCompletionSource gate, string value) => async () =>
    {
        Interlocked.Increment(ref _reads);
        await gate.Task;
        return value;
    };

    [Fact]
    public async Task Callers_that_learnt_of_a_change_before_a_read_started_take_that_read()
    {
        var reads = Reads();
        var since = reads.Now;
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        var gate = new TaskCompletionSource();
        var all = Enumerable.Range(0, 200).Select(_ => reads.ReadAsync("list", since, Read(gate, "v1"))).ToList();
        gate.SetResult();
        Assert.All(await Task.WhenAll(all), v => Assert.Equal("v1", v));
        Assert.Equal(1, _reads);
    }

    [Fact]
    public async Task A_caller_that_learnt_of_a_change_after_a_read_started_reads_again_and_the_next_callers_take_its_read()
    {
        var reads = Reads();
        var first = new TaskCompletionSource();
        var early = reads.ReadAsync("list", reads.Now, Read(first, "before"));
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        var changed = reads.Now;
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        var second = new TaskCompletionSource();
        var late = reads.ReadAsync("list", changed, Read(second, "after"));
        var later = reads.ReadAsync("list", changed, Read(second, "never read"));
        first.SetResult();
        second.SetResult();
        Assert.Equal(("before", "after", "after"), (await early, await late, await later));
        Assert.Equal(2, _reads);
    }

    [Fact]
    public async Task Different_keys_are_read_apart()
    {
        var reads = Reads();
        var gate = new TaskCompletionSource();
        gate.SetResult();
        Assert.Equal(("page 1", "page 2"), (await reads.ReadAsync("p1", reads.Now, Read(gate, "page 1")), await reads.ReadAsync("p2", reads.Now, Read(gate, "page 2"))));
        Assert.Equal(2, _reads);
    }

    [Fact]
    public async Task A_read_that_ended_is_kept_a_while_and_a_failed_one_not_at_all()
    {
        var reads = Reads();
        var gate = new TaskCompletionSource();
        gate.SetResult();
        var since = reads.Now;
        await reads.ReadAsync("list", since, Read(gate, "kept"));
        Assert.Equal("kept", await reads.ReadAsync("list", since, Read(gate, "not read")));
        _clock.Advance(SharedReads.KeptFor);
        await Eventually(() => reads.Kept == 0);

        await Assert.ThrowsAsync<InvalidOperationException>(() => reads.ReadAsync<string>("list", reads.Now, () => throw new InvalidOperationException("store away")));
        Assert.Equal(0, reads.Kept);
        Assert.Equal("again", await reads.ReadAsync("list", since, Read(gate, "again")));
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
