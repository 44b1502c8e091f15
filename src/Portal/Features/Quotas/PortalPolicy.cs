using System.Security.Claims;
using Marten;

namespace Paddock.Portal.Features.Quotas;

/// <summary>
/// The fleet's rules for members: whether they may pick sizes of their own beside the flavors,
/// how long before a lease ends its owner is told, and how long an expired VM's disks are kept.
/// </summary>
public sealed record PortalPolicy
{
    public static readonly PortalPolicy Default = new();

    public bool CustomSizes { get; init; } = true;

    public TimeSpan LeaseNotice { get; init; } = TimeSpan.FromDays(1);

    public TimeSpan ExpiredGrace { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How long after it is made a personal API token may last at most.</summary>
    public TimeSpan MaxTokenLifetime { get; init; } = TimeSpan.FromDays(365);

    /// <summary>The fleet's overcommit policy: every host without one of its own.</summary>
    public OvercommitPolicy Overcommit { get; init; } = OvercommitPolicy.Default;
}

public sealed record PolicySet(PortalPolicy Policy, Guid By, string ByName, DateTimeOffset At);

/// <summary>The policy as admins last set it, projected inline from its stream.</summary>
public sealed class PolicyDocument
{
    public static readonly Guid StreamId = new("8a3d1f00-0000-4000-8000-00000000b001");

    public Guid Id { get; set; }

    public PortalPolicy Policy { get; set; } = PortalPolicy.Default;

    public string ChangedBy { get; set; } = "";

    public DateTimeOffset ChangedAt { get; set; }

    public static PolicyDocument Create(PolicySet e) => new() { Id = StreamId, Policy = e.Policy, ChangedBy = e.ByName, ChangedAt = e.At };

    public void Apply(PolicySet e)
    {
        Policy = e.Policy;
        ChangedBy = e.ByName;
        ChangedAt = e.At;
    }
}

public sealed class PolicyService(IDocumentStore store, Audit audit, ChangeNotifier<QuotasChanged> changes, TimeProvider clock)
{
    public static async Task<PortalPolicy> GetAsync(IQuerySession session, CancellationToken ct = default) =>
        (await session.LoadAsync<PolicyDocument>(PolicyDocument.StreamId, ct))?.Policy ?? PortalPolicy.Default;

    public static string? Validate(PortalPolicy policy) =>
        OvercommitPolicy.Validate(policy.Overcommit) is { } overcommit ? overcommit
        : policy.LeaseNotice < TimeSpan.Zero || policy.LeaseNotice > TimeSpan.FromDays(90) ? "Notice before a lease ends: between 0 and 90 days."
        : policy.ExpiredGrace < TimeSpan.Zero || policy.ExpiredGrace > TimeSpan.FromDays(365) ? "Keep expired VMs: between 0 and 365 days."
        : policy.MaxTokenLifetime < TimeSpan.FromDays(1) || policy.MaxTokenLifetime > TimeSpan.FromDays(3650) ? "Longest API token: between 1 and 3650 days."
        : null;

    public async Task SetAsync(ClaimsPrincipal admin, PortalPolicy policy, CancellationToken ct = default)
    {
        if (!admin.IsAdmin())
        {
            throw new RefusedException("Only admins may change the policy.");
        }

        if (Validate(policy) is { } problem)
        {
            throw new RefusedException(problem, "policy");
        }

        await using var session = store.LightweightSession();
        session.Events.Append(PolicyDocument.StreamId, new PolicySet(policy, admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()));
        audit.Add(session, admin, AuditKind.PolicyChanged,
            $"Set the policy: custom sizes {(policy.CustomSizes ? "allowed" : "not allowed")}, lease notice {policy.LeaseNotice}, keep expired VMs {policy.ExpiredGrace}, "
            + $"longest API token {policy.MaxTokenLifetime.TotalDays:0} days");
        await session.SaveChangesAsync(ct);
        changes.Publish(new QuotasChanged());
    }
}
