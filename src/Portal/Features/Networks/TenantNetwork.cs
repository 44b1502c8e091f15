using Paddock.Engine.Networks;

namespace Paddock.Portal.Features.Networks;

// The history of a network: each event says who and when; TenantNetwork is their projection.

/// <param name="IsDefault">Made by the portal on first use as its owner's default network; not counted in the quota.</param>
/// <param name="Provider">Set for a provider network (an admin's): its host interface and VLAN; <paramref name="Cidr"/> and <paramref name="Gateway"/> are then information only (or empty).</param>
/// <param name="Offer">Who may use a provider network.</param>
public sealed record NetworkCreated(
    Guid NetworkId, Guid OwnerId, Guid? GroupId, string Name, string Cidr, string Gateway, bool Nat, int Vni, bool IsDefault,
    Guid By, string ByName, DateTimeOffset At, ProviderLink? Provider = null, ProviderOffer? Offer = null);

/// <param name="Offer">A provider network's new offer; null leaves it as it was.</param>
public sealed record NetworkEdited(string Name, bool Nat, Guid By, string ByName, DateTimeOffset At, ProviderOffer? Offer = null);

/// <summary>Who may put NICs on a provider network: everyone, or the members of <paramref name="Groups"/>.</summary>
public sealed record ProviderOffer(bool Everyone, IReadOnlyList<Guid> Groups)
{
    public bool Includes(IReadOnlyCollection<Guid> groups) => Everyone || Groups.Any(groups.Contains);
}

public sealed record NetworkDeleted(Guid By, string ByName, DateTimeOffset At);

/// <summary>
/// A tenant network: owned by a user, optionally shared with one of their groups (whose members may
/// see it and put their VMs' NICs on it). A provider network (<see cref="Provider"/> set) is an
/// admin's bridge to a host interface, offered to everyone or to some groups (<see cref="Offer"/>). Projected inline from its stream; its unique indexes keep
/// names unique per owner and VNIs unique across the fleet.
/// </summary>
public sealed class TenantNetwork
{
    public Guid Id { get; set; }

    public Guid OwnerId { get; set; }

    public Guid? GroupId { get; set; }

    public string Name { get; set; } = "";

    public string Cidr { get; set; } = "";

    public string Gateway { get; set; } = "";

    public bool Nat { get; set; }

    /// <summary>The network's VXLAN id, fleet-wide unique while it exists.</summary>
    public int Vni { get; set; }

    public bool IsDefault { get; set; }

    public ProviderLink? Provider { get; set; }

    public ProviderOffer? Offer { get; set; }

    public bool IsProvider => Provider is not null;

    public string CreatedBy { get; set; } = "";

    public DateTimeOffset CreatedAt { get; set; }

    public string ChangedBy { get; set; } = "";

    public DateTimeOffset ChangedAt { get; set; }

    public int Version { get; set; }

    /// <summary>As hosts carry it; a provider network's range and gateway are the outside's, none of the hosts' business.</summary>
    public NetworkSpec Spec => Provider is null ? new(Id, Vni, Cidr, Gateway, Nat) : new(Id, Vni, "", "", false) { Provider = Provider };

    public static TenantNetwork Create(NetworkCreated e) => new()
    {
        Id = e.NetworkId,
        OwnerId = e.OwnerId,
        GroupId = e.GroupId,
        Name = e.Name,
        Cidr = e.Cidr,
        Gateway = e.Gateway,
        Nat = e.Nat,
        Vni = e.Vni,
        IsDefault = e.IsDefault,
        Provider = e.Provider,
        Offer = e.Offer,
        CreatedBy = e.ByName,
        CreatedAt = e.At,
        ChangedBy = e.ByName,
        ChangedAt = e.At,
    };

    public void Apply(NetworkEdited e)
    {
        Name = e.Name;
        Nat = e.Nat;
        Offer = e.Offer ?? Offer;
        ChangedBy = e.ByName;
        ChangedAt = e.At;
    }

    public bool ShouldDelete(NetworkDeleted e) => true;
}

/// <summary>
/// The address one NIC holds on a network (IPAM); on a provider network, whose addresses the
/// outside network gives, the NIC's MAC (its one address Paddock knows, and unique per network). Inserted in the transaction that puts the NIC on
/// the network; a unique index on network and address lets only one of two racing NICs have it.
/// Removed when the NIC or its VM goes.
/// </summary>
public sealed class NicAddress
{
    public Guid Id { get; set; }

    public Guid NetworkId { get; set; }

    public string Address { get; set; } = "";

    public Guid VmId { get; set; }

    public string VmName { get; set; } = "";

    public string NicId { get; set; } = "";

    public string Mac { get; set; } = "";
}

/// <summary>Published to live pages (and the pushes to hosts) when a network changed.</summary>
public sealed record NetworksChanged(Guid NetworkId);
