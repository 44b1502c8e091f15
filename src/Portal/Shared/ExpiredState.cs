using Marten;

namespace Paddock.Portal.Shared;

/// <summary>
/// State that is only kept while it means something (a console ticket until it expires, sign-in
/// failures until they are forgotten). A feature registers one; <see cref="ExpiredStatePurger"/>
/// deletes what is over, so that such tables stay bounded however many come and go.
/// </summary>
public interface IExpiredState
{
    /// <summary>Queues the deletion of everything over at <paramref name="now"/> in <paramref name="session"/>; the purger saves.</summary>
    void Purge(IDocumentSession session, DateTimeOffset now);
}

/// <summary>Deletes expired state of every feature every few seconds (one statement each, behind an index).</summary>
public sealed class ExpiredStatePurger(IDocumentStore store, IEnumerable<IExpiredState> states, TimeProvider clock, ILogger<ExpiredStatePurger> log)
    : Keeper(clock, log)
{
    protected override string Work => "Purging expired state";

    public override async Task<TimeSpan> RunOnceAsync(CancellationToken ct)
    {
        var now = Clock.GetUtcNow();
        await using var session = store.LightweightSession();
        foreach (var state in states)
        {
            state.Purge(session, now);
        }
        await session.SaveChangesAsync(ct);
        return MaxSleep;
    }

    protected override IEnumerable<IDisposable> Follow(Func<Task> wake) => [];
}
