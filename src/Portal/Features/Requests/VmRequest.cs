using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Requests;

public enum RequestKind
{
    /// <summary>A new VM that does not fit the quota or needs an admin's approval.</summary>
    NewVm,

    /// <summary>A longer (or no) lease for an existing VM.</summary>
    Lease,
}

public enum RequestState
{
    Pending,
    Approved,
    Rejected,
    Withdrawn,
}

// The history of a request: each event says who and when. The VmRequest document is their projection.

/// <summary>
/// Submitted by the requester: a new VM (<paramref name="Vm"/>) or a lease for <paramref name="VmId"/>
/// (<paramref name="LeaseMinutes"/> from approval; null for no end), with why it needs approval.
/// </summary>
public sealed record RequestSubmitted(
    Guid RequestId, RequestKind Kind, Guid RequesterId, string RequesterName, NewVm? Vm, Guid? VmId, string? VmName, int? LeaseMinutes,
    string Justification, IReadOnlyList<string> Reasons, DateTimeOffset At);

/// <summary>Approved (and provisioned in the same transaction): <paramref name="VmId"/> is the VM it made or extended.</summary>
public sealed record RequestApproved(Guid By, string ByName, bool QuotaRaised, string? Comment, Guid? VmId, DateTimeOffset At, bool Automatic = false);

public sealed record RequestRejected(Guid By, string ByName, string Reason, DateTimeOffset At);

public sealed record RequestWithdrawn(Guid By, string ByName, DateTimeOffset At);

/// <summary>One step of a request's timeline: who did what, when, and why.</summary>
public sealed record RequestStep(DateTimeOffset At, string Who, string What, string? Detail = null);

/// <summary>A request as pages read it, projected inline from its stream.</summary>
public sealed class VmRequest
{
    public Guid Id { get; set; }

    public RequestKind Kind { get; set; }

    public RequestState State { get; set; }

    public Guid RequesterId { get; set; }

    public string RequesterName { get; set; } = "";

    public NewVm? Vm { get; set; }

    /// <summary>The VM made by the approval, or the VM whose lease is asked for.</summary>
    public Guid? VmId { get; set; }

    public string? VmName { get; set; }

    public int? LeaseMinutes { get; set; }

    public string Justification { get; set; } = "";

    public List<string> Reasons { get; set; } = [];

    public DateTimeOffset SubmittedAt { get; set; }

    public DateTimeOffset? DecidedAt { get; set; }

    public string? DecidedBy { get; set; }

    /// <summary>The admin's reason for a rejection, or comment on an approval.</summary>
    public string? Decision { get; set; }

    public bool QuotaRaised { get; set; }

    public List<RequestStep> Timeline { get; set; } = [];

    /// <summary>Stream version, for version-checked decisions.</summary>
    public int Version { get; set; }

    /// <summary>"VM 'web' (2 vCPUs, 4096 MiB, 20 GiB disk)" or "Lease of 'web': 30 days".</summary>
    public string Summary => Kind == RequestKind.NewVm
        ? $"VM '{Vm?.Name}'"
        : $"Lease of '{VmName}': {(LeaseMinutes is { } m ? Durations.Describe(TimeSpan.FromMinutes(m)) : "no end")}";

    public static VmRequest Create(RequestSubmitted e) => new()
    {
        Id = e.RequestId,
        Kind = e.Kind,
        State = RequestState.Pending,
        RequesterId = e.RequesterId,
        RequesterName = e.RequesterName,
        Vm = e.Vm,
        VmId = e.VmId,
        VmName = e.VmName ?? e.Vm?.Name,
        LeaseMinutes = e.LeaseMinutes,
        Justification = e.Justification,
        Reasons = [.. e.Reasons],
        SubmittedAt = e.At,
        Timeline = [new RequestStep(e.At, e.RequesterName, "Submitted", e.Justification)],
    };

    public void Apply(RequestApproved e)
    {
        State = RequestState.Approved;
        VmId = e.VmId ?? VmId;
        DecidedAt = e.At;
        DecidedBy = e.ByName;
        Decision = e.Comment;
        QuotaRaised = e.QuotaRaised;
        var what = e.Automatic ? "Approved at once: it fits the quota and policy" : e.QuotaRaised ? "Approved, quota raised to fit" : "Approved";
        Timeline.Add(new RequestStep(e.At, e.ByName, what, e.Comment));
        Timeline.Add(new RequestStep(e.At, "Paddock", Kind == RequestKind.NewVm ? "VM created" : "Lease set"));
    }

    public void Apply(RequestRejected e)
    {
        State = RequestState.Rejected;
        DecidedAt = e.At;
        DecidedBy = e.ByName;
        Decision = e.Reason;
        Timeline.Add(new RequestStep(e.At, e.ByName, "Rejected", e.Reason));
    }

    public void Apply(RequestWithdrawn e)
    {
        State = RequestState.Withdrawn;
        DecidedAt = e.At;
        DecidedBy = e.ByName;
        Timeline.Add(new RequestStep(e.At, e.ByName, "Withdrawn"));
    }
}

public enum RequestAction
{
    Approve,
    Reject,
    Withdraw,
}

/// <summary>The request state machine: who may do what to a request in which state. Pure.</summary>
public static class RequestRules
{
    public const int MaxTextLength = IApprovalRequests.MaxTextLength;

    public static string? Refusal(VmRequest request, RequestAction action, Guid actor, bool isAdmin) => action switch
    {
        RequestAction.Approve or RequestAction.Reject when !isAdmin => "Only admins approve or reject requests.",
        RequestAction.Withdraw when request.RequesterId != actor => "Only the person who asked may withdraw a request.",
        _ when request.State != RequestState.Pending => $"The request is {request.State.ToString().ToLowerInvariant()} already.",
        _ => null,
    };

    public static string? ValidateJustification(string? text) =>
        string.IsNullOrWhiteSpace(text) ? "Justification: say why you need it."
        : text.Length > MaxTextLength ? $"Justification: at most {MaxTextLength} characters."
        : null;

    public static string? ValidateRejection(string? text) =>
        string.IsNullOrWhiteSpace(text) ? "Reason: tell the requester why."
        : text.Length > MaxTextLength ? $"Reason: at most {MaxTextLength} characters."
        : null;
}
