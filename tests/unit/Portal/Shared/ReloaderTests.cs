using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

/// <summary>
/// A live page's loads: found when a hundred deletes at once started a hundred loads of the
/// Capacity page side by side, which held every pooled connection and the circuit.
/// </summary>
public sealed class ReloaderTests
{
    [Fact]
    public async Task Changes_during_a_load_make_one_more_load_not_one_each()
    {
        var loads = 0;
        var first = new TaskCompletionSource();
        var reloader = new Reloader(work => work(), async () =>
        {
            if (Interlocked.Increment(ref loads) == 1)
            {
                await first.Task;
            }
        });

        var running = reloader.RequestAsync();
        var during = Enumerable.Range(0, 100).Select(_ => reloader.RequestAsync()).ToList();
        Assert.All(during, d => Assert.True(d.IsCompleted));
        first.SetResult();
        await running;

        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task A_request_after_the_loads_ended_loads_again()
    {
        var loads = 0;
        var reloader = new Reloader(work => work(), () => Task.FromResult(Interlocked.Increment(ref loads)));

        await reloader.RequestAsync();
        await reloader.RequestAsync();

        Assert.Equal(2, loads);
    }

    [Fact]
    public async Task A_load_that_fails_leaves_the_next_request_free_to_load()
    {
        var loads = 0;
        var reloader = new Reloader(work => work(), () =>
            Interlocked.Increment(ref loads) == 1 ? Task.FromException(new InvalidOperationException("store away")) : Task.CompletedTask);

        await Assert.ThrowsAsync<InvalidOperationException>(reloader.RequestAsync);
        await reloader.RequestAsync();

        Assert.Equal(2, loads);
    }
}
