using Marten;
using Marten.Patching;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// At start no agent is connected to this process yet: whatever the database says from before is
/// stale. (With several portal processes this becomes a per-process connection table.)
/// </summary>
public sealed class HostsOnStartup(IDocumentStore store, Microsoft.Extensions.Options.IOptions<PortalOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.ResetHostsOnStart)
        {
            return;
        }

        await using var session = store.LightweightSession();
        session.Patch<HostRecord>(h => h.Connected).Set(h => h.Connected, false);
        await session.SaveChangesAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
