using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Placement;

// What admins decide about one host, as events on a stream per host (its id).

/// <summary>The host's own overcommit policy, or (null) the fleet's again.</summary>
public sealed record HostPolicySet(Guid HostId, OvercommitPolicy? Policy, Guid By, string ByName, DateTimeOffset At);

/// <summary>The host takes no new VMs while in maintenance; the ones on it stay.</summary>
public sealed record HostMaintenanceSet(Guid HostId, bool Maintenance, Guid By, string ByName, DateTimeOffset At);

/// <summary>VMs may (or may no longer) start on the host without every wall it lacks.</summary>
public sealed record HostUnconfinedAllowed(Guid HostId, bool Allowed, Guid By, string ByName, DateTimeOffset At);

/// <summary>A host's policy and maintenance, projected inline from its stream.</summary>
public sealed class HostPolicy
{
    public Guid Id { get; set; }

    /// <summary>The host's own policy; null when the fleet's applies.</summary>
    public OvercommitPolicy? Policy { get; set; }

    public bool Maintenance { get; set; }

    /// <summary>An admin allowed VMs to start here unconfined (without what the host cannot give).</summary>
    public bool AllowUnconfined { get; set; }

    public string ChangedBy { get; set; } = "";

    public DateTimeOffset ChangedAt { get; set; }

    public static HostPolicy Create(HostPolicySet e) => new() { Id = e.HostId, Policy = e.Policy, ChangedBy = e.ByName, ChangedAt = e.At };

    public static HostPolicy Create(HostMaintenanceSet e) => new() { Id = e.HostId, Maintenance = e.Maintenance, ChangedBy = e.ByName, ChangedAt = e.At };

    public static HostPolicy Create(HostUnconfinedAllowed e) => new() { Id = e.HostId, AllowUnconfined = e.Allowed, ChangedBy = e.ByName, ChangedAt = e.At };

    public void Apply(HostUnconfinedAllowed e)
    {
        AllowUnconfined = e.Allowed;
        ChangedBy = e.ByName;
        ChangedAt = e.At;
    }

    public void Apply(HostPolicySet e)
    {
        Policy = e.Policy;
        ChangedBy = e.ByName;
        ChangedAt = e.At;
    }

    public void Apply(HostMaintenanceSet e)
    {
        Maintenance = e.Maintenance;
        ChangedBy = e.ByName;
        ChangedAt = e.At;
    }
}

/// <summary>
/// One per host, stored again (version-checked) by every placement on it, in the create's
/// transaction: two placements that counted the same allocations cannot both commit, so no host
/// is ever double-booked, whichever portal process decided.
/// </summary>
public sealed class HostLedger
{
    public Guid Id { get; set; }

    public long Placements { get; set; }

    public DateTimeOffset LastPlacedAt { get; set; }
}
