using Marten;

namespace Paddock.Portal.Features.Networks;

/// <summary>A VM as networks see it: its name (its DNS name) and the hosts it is on (two while it migrates).</summary>
public sealed record VmWhereabouts(Guid VmId, string Name, IReadOnlyList<Guid> Hosts);

/// <summary>
/// Where the VMs whose NICs are on networks run. Vms implements it, as Networks stands below the VMs
/// (the VMs put their NICs on networks; networks follow the VMs' changes through <see cref="VmChanged"/>).
/// </summary>
public interface INetworkVms
{
    /// <summary>Those of <paramref name="vmIds"/> that exist, read in <paramref name="session"/>.</summary>
    Task<IReadOnlyList<VmWhereabouts>> WhereaboutsAsync(IQuerySession session, IReadOnlyCollection<Guid> vmIds, CancellationToken ct = default);
}
