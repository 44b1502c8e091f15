using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Agents;

/// <summary>
/// Renews the <see cref="HostLease"/> of every host connected to this portal process, all in one
/// save, every third of the grace period. A host held here whose record says otherwise (another
/// process marked it Unreachable while this one could not reach the database, or one starting up
/// took it for disconnected) has its connection ended: its agent registers again, which sets the
/// record right and reports its VMs, which the mark made Unknown.
/// </summary>
/// <remarks>
/// Its sessions take a connection of their own, not one of the pool the requests share: under a
/// burst (a thousand creates at once) that pool is all taken, and a renewal that waited its turn
/// let the leases run out and another process mark hosts away that were not.
/// </remarks>
public sealed class HostLeaseRenewal(
    IDocumentStore store, IConfiguration configuration, HostConnections connections, IOptions<PortalOptions> options, TimeProvider clock, ILogger<HostLeaseRenewal> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = options.Value.HostGrace / 3;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RenewAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                log.LogWarning("Could not renew the leases of the hosts connected here ({Message}); trying again", e.Message);
            }

            await Task.Delay(period, clock, stoppingToken);
        }
    }

    private async Task RenewAsync(CancellationToken ct)
    {
        var held = connections.Hosts.ToList();
        if (held.Count == 0)
        {
            return;
        }

        await using var session = store.LightweightSession(Marten.Services.SessionOptions.ForConnectionString(configuration.GetConnectionString("Paddock")!));
        HostLease.Renew(session, held, clock.GetUtcNow(), options.Value.HostGrace);
        await session.SaveChangesAsync(ct);
        var wrong = await session.Query<HostRecord>().Where(h => held.Contains(h.Id) && (h.Unreachable || !h.Connected) && !h.Revoked).Select(h => h.Id).ToListAsync(ct);
        foreach (var hostId in wrong)
        {
            log.LogWarning("Host {Host} is connected here but its record says it is away; ending its connection so that it registers again", hostId);
            connections.EndHost(hostId);
        }
    }
}
