using Marten;

namespace Paddock.Portal.Features.Networks;

/// <summary>What the Quotas page shows of a user's networks.</summary>
public sealed class CountedNetworks : Quotas.ICountedNetworks
{
    public async Task<int> OfAsync(IQuerySession session, Guid owner, CancellationToken ct = default) =>
        (await NetworkService.QuotaOfAsync(session, owner, ct)).InUse;

    public Task<int> PortForwardsOfAsync(IQuerySession session, Guid owner, CancellationToken ct = default) =>
        ForwardService.CountAsync(session, owner, ct);
}
