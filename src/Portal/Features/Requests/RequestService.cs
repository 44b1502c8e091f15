using System.Security.Claims;
using JasperFx;
using Marten;
using Marten.Exceptions;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Requests;

/// <summary>The request does not exist or is not the caller's: the same answer for both.</summary>
public sealed class RequestNotFoundException() : Exception("No such request.");

/// <summary>Published to live pages when a request was submitted or decided.</summary>
public sealed record RequestsChanged(Guid RequestId, Guid RequesterId);

/// <summary>
/// Requests: what people cannot take alone, asked of an admin. Approval provisions in the same
/// transaction that records it, so an approved request always has its VM (or lease).
/// </summary>
public sealed class RequestService(IDocumentStore store, VmService vms, QuotaService quotas, Audit audit, ChangeNotifier<RequestsChanged> changes, TimeProvider clock) : IApprovalRequests
{
    /// <summary>The request when the caller may see it (their own, or any for admins); otherwise null.</summary>
    public static async Task<VmRequest?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default) =>
        await session.LoadAsync<VmRequest>(id, ct) is { } request && (request.RequesterId == user.UserId() || user.IsAdmin()) ? request : null;

    /// <summary>Admins see every request, pending first; members their own.</summary>
    public static async Task<IReadOnlyList<VmRequest>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var requests = await Visible(session, user).ToListAsync(ct);
        return [.. requests.OrderBy(r => r.State != RequestState.Pending).ThenByDescending(r => r.SubmittedAt)];
    }

    /// <summary>The requests a person sees, as a query: an admin's, everyone's; a member's, their own.</summary>
    public static IQueryable<VmRequest> Visible(IQuerySession session, ClaimsPrincipal user)
    {
        var me = user.UserId();
        return user.IsAdmin() ? session.Query<VmRequest>() : session.Query<VmRequest>().Where(r => r.RequesterId == me);
    }

    /// <summary>
    /// A page of what <see cref="ListAsync"/> lists, in its order, read from the store: the waiting
    /// requests newest first, then the decided ones newest first (state and time are indexed).
    /// </summary>
    public static async Task<(IReadOnlyList<VmRequest> Requests, int Total)> PageAsync(IQuerySession session, ClaimsPrincipal user, int page, int size, CancellationToken ct = default)
    {
        var waiting = await Visible(session, user).CountAsync(r => r.State == RequestState.Pending, ct);
        var total = await Visible(session, user).CountAsync(ct);
        var skip = page * size;
        var shown = skip >= waiting ? [] : await Visible(session, user).Where(r => r.State == RequestState.Pending)
            .OrderByDescending(r => r.SubmittedAt).Skip(skip).Take(size).ToListAsync(ct);
        var decided = size - shown.Count;
        if (decided > 0)
        {
            shown = [.. shown, .. await Visible(session, user).Where(r => r.State != RequestState.Pending)
                .OrderByDescending(r => r.SubmittedAt).Skip(Math.Max(0, skip - waiting)).Take(decided).ToListAsync(ct)];
        }

        return (shown, total);
    }

    /// <summary>What the navigation counts: for admins the requests waiting for a decision, for members their own.</summary>
    public static async Task<int> PendingCountAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var me = user.UserId();
        return user.IsAdmin()
            ? await session.Query<VmRequest>().CountAsync(r => r.State == RequestState.Pending, ct)
            : await session.Query<VmRequest>().CountAsync(r => r.State == RequestState.Pending && r.RequesterId == me, ct);
    }

    /// <summary>
    /// Submits a new VM as a request. Bad input is refused as a create would refuse it. A VM that
    /// fits the quota and needs no approval is created at once, its request approved automatically.
    /// </summary>
    public async Task<Guid> SubmitVmAsync(ClaimsPrincipal user, NewVm vm, string? justification, CancellationToken ct = default)
    {
        if (RequestRules.ValidateJustification(justification) is { } problem)
        {
            throw new RefusedException(problem, "justification");
        }

        var plan = await vms.PlanAsync(user, vm, ct);
        // A request is kept, and read by admins: a password in it only as its hash.
        vm = vm with { Guest = vm.Guest?.Hashed() };
        var reasons = new List<string>(plan.NeedsApproval);
        await using (var session = store.QuerySession())
        {
            var requested = QuotaUsage.OneVm(plan.Definition.VCpus, plan.Definition.MemoryMiB, plan.Definition.DiskBytes);
            var mine = await quotas.StatusAsync(session, user.UserId(), group: false, ct);
            reasons.AddRange(QuotaRules.Check(mine.Limits, mine.InUse, requested).Select(s => s.Message + "."));
            if (vm.GroupId is { } groupId)
            {
                var group = await quotas.StatusAsync(session, groupId, group: true, ct);
                reasons.AddRange(QuotaRules.Check(group.Limits, group.InUse, requested, $"group '{group.Name}'").Select(s => s.Message + "."));
            }
        }

        var id = Guid.NewGuid();
        var submitted = new RequestSubmitted(id, RequestKind.NewVm, user.UserId(), user.Identity?.Name ?? "", vm, null, vm.Name.Trim(), vm.LeaseMinutes, justification!.Trim(), reasons, clock.GetUtcNow());
        if (reasons.Count == 0)
        {
            try
            {
                await vms.DefineAsync(new VmCreation(user, user.UserId(), plan.Definition)
                {
                    RequestId = id,
                    AlsoInTransaction = (session, vmId) =>
                    {
                        session.Events.StartStream<VmRequest>(id, submitted, new RequestApproved(Guid.Empty, "Paddock", false, null, vmId, clock.GetUtcNow(), Automatic: true));
                        return Task.CompletedTask;
                    },
                }, ct);
                changes.Publish(new RequestsChanged(id, user.UserId()));
                return id;
            }
            catch (QuotaExceededException e)
            {
                // Someone took the room meanwhile: then it waits for an admin like any other.
                submitted = submitted with { Reasons = [.. e.Shortfalls.Select(s => s.Message + ".")] };
            }
        }

        await using (var session = store.LightweightSession())
        {
            session.Events.StartStream<VmRequest>(id, submitted);
            audit.Add(session, user, AuditKind.RequestChanged, $"Request VM '{vm.Name.Trim()}': {string.Join(" ", submitted.Reasons)}");
            await session.SaveChangesAsync(ct);
        }

        changes.Publish(new RequestsChanged(id, user.UserId()));
        return id;
    }

    /// <summary>Asks for a lease of <paramref name="leaseMinutes"/> from approval (null: no end) for one of the caller's VMs.</summary>
    public async Task<Guid> SubmitLeaseAsync(ClaimsPrincipal user, Guid vmId, int? leaseMinutes, string? justification, CancellationToken ct = default)
    {
        if (RequestRules.ValidateJustification(justification) is { } problem)
        {
            throw new RefusedException(problem, "justification");
        }

        if (leaseMinutes is { } m && (m < 1 || TimeSpan.FromMinutes(m) > VmService.MaxLease))
        {
            throw new RefusedException("Lease: between 1 minute and 10 years, or none.", "lease");
        }

        await using var session = store.LightweightSession();
        var vm = await VmRights.LoadAsync(session, user, vmId, VmAction.ChangeLease, ct);

        var max = await VmService.MaxLeaseOfAsync(session, vm, ct);
        var asked = leaseMinutes is { } minutes ? Durations.Describe(TimeSpan.FromMinutes(minutes)) : "no end";
        var reasons = max is { } x ? new[] { $"Lease: {asked} asked, at most {Durations.Describe(x.Max)} for {x.Why}." } : [];
        var id = Guid.NewGuid();
        session.Events.StartStream<VmRequest>(id, new RequestSubmitted(id, RequestKind.Lease, user.UserId(), user.Identity?.Name ?? "", null, vm.Id, vm.Name, leaseMinutes, justification!.Trim(), reasons, clock.GetUtcNow()));
        audit.Add(session, user, AuditKind.RequestChanged, $"Request a lease of {asked} for '{vm.Name}'", vm.Id);
        await session.SaveChangesAsync(ct);
        changes.Publish(new RequestsChanged(id, user.UserId()));
        return id;
    }

    /// <summary>
    /// Approves a pending request and provisions it in the same transaction: the VM is created (or
    /// the lease set) and the approval recorded together. Without <paramref name="raiseQuota"/> a VM
    /// that does not fit the requester's quota is refused with the numbers.
    /// </summary>
    public async Task ApproveAsync(ClaimsPrincipal admin, Guid id, bool raiseQuota, string? comment, CancellationToken ct = default)
    {
        VmRequest request;
        PortalUser? requester;
        await using (var session = store.QuerySession())
        {
            request = await FindAsync(session, admin, id, ct) ?? throw new RequestNotFoundException();
            requester = await session.LoadAsync<PortalUser>(request.RequesterId, ct);
        }

        Refuse(request, RequestAction.Approve, admin);
        if (comment is { Length: > RequestRules.MaxTextLength })
        {
            throw new RefusedException($"Comment: at most {RequestRules.MaxTextLength} characters.", "comment");
        }

        if (requester is null or { Disabled: true })
        {
            throw new RefusedException($"{request.RequesterName}'s account is gone or disabled; reject the request instead.");
        }

        comment = string.IsNullOrWhiteSpace(comment) ? null : comment.Trim();
        Task Approve(IDocumentSession session, Guid? vmId) => AppendDecisionAsync(session, id, admin, new RequestApproved(admin.UserId(), admin.Identity?.Name ?? "", raiseQuota, comment, vmId, clock.GetUtcNow()), ct);
        try
        {
            if (request.Kind == RequestKind.NewVm)
            {
                // Decided as the requester would have it: their templates, images and groups.
                var plan = await vms.PlanAsync(Accounts.Accounts.ToPrincipal(requester), request.Vm!, ct);
                await vms.DefineAsync(new VmCreation(admin, requester.Id, plan.Definition)
                {
                    AlsoInTransaction = (session, vmId) => Approve(session, vmId),
                    RaiseQuota = raiseQuota,
                    Reason = $"request from {request.RequesterName}",
                    RequestId = id,
                }, ct);
            }
            else
            {
                await vms.ExtendLeaseAsync(admin, request.VmId!.Value, request.LeaseMinutes is { } m ? TimeSpan.FromMinutes(m) : null, ct, approved: true, requestId: id,
                    alsoInTransaction: session => Approve(session, request.VmId));
            }
        }
        catch (QuotaExceededException e)
        {
            throw new RefusedException($"It does not fit {request.RequesterName}'s quota: {e.Message} Tick 'Raise the quota' to approve it anyway.", "raise");
        }
        catch (VmNotFoundException)
        {
            throw new RefusedException("The VM is gone; reject the request instead.");
        }

        changes.Publish(new RequestsChanged(id, request.RequesterId));
    }

    public async Task RejectAsync(ClaimsPrincipal admin, Guid id, string? reason, CancellationToken ct = default)
    {
        if (RequestRules.ValidateRejection(reason) is { } problem)
        {
            throw new RefusedException(problem, "reason");
        }

        await DecideAsync(admin, id, RequestAction.Reject, new RequestRejected(admin.UserId(), admin.Identity?.Name ?? "", reason!.Trim(), clock.GetUtcNow()), ct);
    }

    public Task WithdrawAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default) =>
        DecideAsync(user, id, RequestAction.Withdraw, new RequestWithdrawn(user.UserId(), user.Identity?.Name ?? "", clock.GetUtcNow()), ct);

    private async Task DecideAsync(ClaimsPrincipal user, Guid id, RequestAction action, object decision, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        if (await FindAsync(session, user, id, ct) is null)
        {
            throw new RequestNotFoundException();
        }

        await AppendDecisionAsync(session, id, user, decision, ct, action);
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new RefusedException("The request was decided meanwhile; look at it again.");
        }

        var request = await session.LoadAsync<VmRequest>(id, ct);
        changes.Publish(new RequestsChanged(id, request!.RequesterId));
    }

    /// <summary>Appends a decision to the request's stream, version-checked: two admins cannot both decide it.</summary>
    private async Task AppendDecisionAsync(IDocumentSession session, Guid id, ClaimsPrincipal user, object decision, CancellationToken ct, RequestAction action = RequestAction.Approve)
    {
        var stream = await session.Events.FetchForWriting<VmRequest>(id, ct);
        var request = stream.Aggregate ?? throw new RequestNotFoundException();
        Refuse(request, action, user);
        stream.AppendOne(decision);
        audit.Add(session, user, AuditKind.RequestChanged, $"{action} the request of {request.RequesterName}: {request.Summary}{decision switch
        {
            RequestRejected r => $" ({r.Reason})",
            RequestApproved { QuotaRaised: true } => " and raise the quota to fit",
            _ => "",
        }}", request.VmId);
    }

    private static void Refuse(VmRequest request, RequestAction action, ClaimsPrincipal user)
    {
        if (RequestRules.Refusal(request, action, user.UserId(), user.IsAdmin()) is { } refusal)
        {
            throw new RefusedException(refusal);
        }
    }
}
