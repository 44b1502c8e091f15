using System.Security.Claims;
using Marten;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Networks;

/// <summary>Who the caller is to one network. An admin who owns it is an admin.</summary>
public enum NetworkRole
{
    /// <summary>The network does not exist for them.</summary>
    Stranger,

    /// <summary>A member of the group the owner shared it with (or one a provider network is offered to): sees it and puts their VMs' NICs on it.</summary>
    GroupMember,

    Owner,
    Admin,
}

/// <summary>The network rights, as VMs have theirs: group members use a network, its owner (or an admin) edits and deletes it.</summary>
public static class NetworkRights
{
    /// <summary>A provider network is an admin's: to everyone else it is one they use when it is offered to them, or none.</summary>
    public static NetworkRole RoleOf(TenantNetwork network, Guid userId, bool admin, IReadOnlyCollection<Guid> groups) =>
        admin ? NetworkRole.Admin
        : network.Offer is { } offer ? (offer.Includes(groups) ? NetworkRole.GroupMember : NetworkRole.Stranger)
        : network.OwnerId == userId ? NetworkRole.Owner
        : network.GroupId is { } group && groups.Contains(group) ? NetworkRole.GroupMember
        : NetworkRole.Stranger;

    /// <summary>Whether a VM of <paramref name="vmOwner"/> (in <paramref name="ownerGroups"/>) may have a NIC on the network: the owner's own, or one shared with their group.</summary>
    public static bool MayAttach(TenantNetwork network, Guid vmOwner, IReadOnlyCollection<Guid> ownerGroups) =>
        network.Offer is { } offer ? offer.Includes(ownerGroups) || network.OwnerId == vmOwner :
        network.OwnerId == vmOwner || (network.GroupId is { } group && ownerGroups.Contains(group));

    public static bool MayChange(NetworkRole role) => role is NetworkRole.Owner or NetworkRole.Admin;

    /// <summary>The network when the caller may see it, otherwise null (never a hint that it exists).</summary>
    public static async Task<(TenantNetwork Network, NetworkRole Role)?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct)
    {
        var network = await session.LoadAsync<TenantNetwork>(id, ct);
        if (network is null)
        {
            return null;
        }

        var role = RoleOf(network, user.UserId(), user.IsAdmin(), await GroupService.GroupsOfAsync(session, user.UserId(), ct));
        return role == NetworkRole.Stranger ? null : (network, role);
    }
}
