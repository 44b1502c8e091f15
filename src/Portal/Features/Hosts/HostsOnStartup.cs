using Marten;
using Marten.Patching;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// At start no agent is connected to this process yet: a host whose record says Connected from
/// before is not, unless its lease still runs: then another portal process holds it (or this one's
/// predecessor did, and the lease ends within the grace).
/// </summary>
public sealed class HostsOnStartup(IDocumentStore store, Microsoft.Extensions.Options.IOptions<PortalOptions> options, TimeProvider clock) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.ResetHostsOnStart)
        {
            return;
        }

        await using var session = store.LightweightSession();
        var now = clock.GetUtcNow();
        var held = await session.Query<HostLease>().Where(l => l.Until > now).Select(l => l.Id).ToListAsync(cancellationToken);
        var stale = await session.Query<HostRecord>().Where(h => h.Connected && !held.Contains(h.Id)).Select(h => h.Id).ToListAsync(cancellationToken);
        foreach (var id in stale)
        {
            session.Patch<HostRecord>(id).Set(h => h.Connected, false);
        }

        await session.SaveChangesAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
