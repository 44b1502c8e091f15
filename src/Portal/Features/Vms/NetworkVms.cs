using Marten;
using Paddock.Portal.Features.Networks;

namespace Paddock.Portal.Features.Vms;

/// <summary>What networks ask of the VMs: their names and hosts (both hosts while a VM migrates, as the destination needs its networks first).</summary>
public sealed class NetworkVms : INetworkVms
{
    public async Task<IReadOnlyList<VmWhereabouts>> WhereaboutsAsync(IQuerySession session, IReadOnlyCollection<Guid> vmIds, CancellationToken ct = default) =>
        [.. (await session.LoadManyAsync<Vm>(ct, vmIds)).Select(v => new VmWhereabouts(
            v.Id, v.Name, v.Migration is { } m && m.ToHostId != v.HostId ? [v.HostId, m.ToHostId] : [v.HostId]))];
}
