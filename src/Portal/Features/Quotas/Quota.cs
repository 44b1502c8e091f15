namespace Paddock.Portal.Features.Quotas;

public enum QuotaSubject
{
    /// <summary>The default every user without an override has.</summary>
    UserDefault,

    /// <summary>The default every group without an override has.</summary>
    GroupDefault,
    User,
    Group,
}

// The history of a quota: each change says who and when. Stream id: the user's or group's id, or one of the defaults' ids.

/// <summary>The limits (and the longest lease a VM may have, null for no maximum) of a user, a group or a default.</summary>
public sealed record QuotaSet(Guid Id, QuotaSubject Subject, QuotaLimits Limits, TimeSpan? MaxLease, Guid By, string ByName, DateTimeOffset At, string? Reason = null);

/// <summary>The override is gone: the default applies again.</summary>
public sealed record QuotaCleared(Guid By, string ByName, DateTimeOffset At);

/// <summary>Limits an admin set (a default, or an override for one user or group), projected inline from its stream.</summary>
public sealed class Quota
{
    public static readonly Guid UserDefaultId = new("8a3d1f00-0000-4000-8000-00000000a001");
    public static readonly Guid GroupDefaultId = new("8a3d1f00-0000-4000-8000-00000000a002");

    public Guid Id { get; set; }

    public QuotaSubject Subject { get; set; }

    public QuotaLimits Limits { get; set; } = QuotaLimits.None;

    /// <summary>The longest lease a VM counted here may have; null for no maximum.</summary>
    public TimeSpan? MaxLease { get; set; }

    public string ChangedBy { get; set; } = "";

    public DateTimeOffset ChangedAt { get; set; }

    public static Quota Create(QuotaSet e) => new() { Id = e.Id, Subject = e.Subject, Limits = e.Limits, MaxLease = e.MaxLease, ChangedBy = e.ByName, ChangedAt = e.At };

    public void Apply(QuotaSet e)
    {
        Limits = e.Limits;
        MaxLease = e.MaxLease;
        ChangedBy = e.ByName;
        ChangedAt = e.At;
    }

    public bool ShouldDelete(QuotaCleared e) => true;
}

/// <summary>
/// One per user and per group, stored again (version-checked) by every transaction that adds to
/// what they use. Two creates that both read the usage before either committed cannot both
/// commit: the second one's version check fails and it decides again on fresh numbers.
/// PostgreSQL, not this process, makes the quota hold across portal processes.
/// </summary>
public sealed class QuotaLedger
{
    public Guid Id { get; set; }

    /// <summary>How many times something was admitted against this quota.</summary>
    public long Admissions { get; set; }

    public DateTimeOffset LastAdmittedAt { get; set; }
}
