using System.Collections.Concurrent;
using System.Diagnostics;

namespace Paddock.Portal.Shared;

/// <summary>
/// One read of the store for every circuit of this process that shows the same thing: a change
/// seen by 200 open pages of one person's list makes one read, not 200. A caller takes a read
/// only if it started after <c>since</c>, the moment the caller learnt of the change it answers
/// (changes are told after their commit, so such a read holds it); otherwise it starts a read
/// that the callers after it take. A read is kept for <see cref="KeptFor"/> after it ended, for
/// the circuits that come to it late; one that failed is not kept.
/// </summary>
public sealed class SharedReads(TimeProvider clock)
{
    public static readonly TimeSpan KeptFor = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, Read> _reads = new();

    /// <summary>This process's monotonic clock, as <c>since</c> takes it.</summary>
    public long Now => clock.GetTimestamp();

    /// <summary>How many reads are kept now (for tests).</summary>
    public int Kept => _reads.Count;

    /// <summary>What <paramref name="read"/> gives for <paramref name="key"/>, read after <paramref name="since"/> by this caller or another.</summary>
    public async Task<T> ReadAsync<T>(string key, long since, Func<Task<T>> read)
        where T : class
    {
        while (true)
        {
            if (_reads.TryGetValue(key, out var kept) && kept.StartedAt >= since)
            {
                return (T)await kept.Result.Task;
            }

            var mine = new Read(Now);
            if (kept is null ? _reads.TryAdd(key, mine) : _reads.TryUpdate(key, mine, kept))
            {
                await RunAsync(key, mine, async () => await read());
                return (T)await mine.Result.Task;
            }

            // Another caller put its read there first: look again.
        }
    }

    private async Task RunAsync(string key, Read mine, Func<Task<object>> read)
    {
        try
        {
            mine.Result.SetResult(await read());
            _ = ForgetLaterAsync(key, mine);
        }
        catch (Exception e)
        {
            _reads.TryRemove(KeyValuePair.Create(key, mine));
            mine.Result.SetException(e);
        }
    }

    private async Task ForgetLaterAsync(string key, Read mine)
    {
        await Task.Delay(KeptFor, clock);
        _reads.TryRemove(KeyValuePair.Create(key, mine));
    }

    private sealed class Read(long startedAt)
    {
        public long StartedAt { get; } = startedAt;

        public TaskCompletionSource<object> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
