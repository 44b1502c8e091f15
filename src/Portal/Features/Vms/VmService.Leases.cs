using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using JasperFx;
using Marten.Exceptions;
using Microsoft.Extensions.Options;
using Npgsql;
using Paddock.Engine.Contract;
using Paddock.Engine.Isolation;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Placement;


namespace Paddock.Portal.Features.Vms;

/// <summary>Leases: when a VM expires, the steps taken as it does, and extending it.</summary>
public sealed partial class VmService
{
    /// <summary>Who the lease keeper's steps are recorded as in the audit log.</summary>
    private static readonly ClaimsPrincipal LeaseKeeperPrincipal = new(new ClaimsIdentity([new Claim(ClaimTypes.Name, "lease keeper")]));

    /// <summary>Takes the lease step that is due for the VM now (tell, expire and shut down, or delete), version-checked.</summary>
    public async Task TakeLeaseStepAsync(Guid vmId, PortalPolicy policy, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Vm>(vmId, ct);
        if (stream.Aggregate is not { } vm)
        {
            return;
        }

        var now = clock.GetUtcNow();
        VmVerb? verb = null;
        switch (Leases.Next(vm, policy, now))
        {
            case LeaseStep.Notify:
                stream.AppendOne(new VmLeaseExpiring(vm.ExpiresAt!.Value, now));
                break;
            case LeaseStep.Expire:
                stream.AppendOne(new VmExpired(vm.ExpiresAt!.Value, now + policy.ExpiredGrace, now));
                audit.Add(session, LeaseKeeperPrincipal, AuditKind.VmOperation, $"Lease of '{vm.Name}' ended: shut down, kept until {now + policy.ExpiredGrace:u}", vm.Id);
                verb = vm.PendingOperation is null ? Leases.StopVerb(vm) : null;
                break;
            case LeaseStep.StopAgain:
                verb = Leases.StopVerb(vm);
                break;
            case LeaseStep.Delete:
                audit.Add(session, LeaseKeeperPrincipal, AuditKind.VmOperation, $"Delete '{vm.Name}': expired and kept for the grace period", vm.Id);
                verb = VmVerb.Delete;
                break;
            default:
                return;
        }

        if (verb is { } v)
        {
            var operation = Guid.NewGuid();
            stream.AppendOne(new VmOperationRequested(operation, v, Guid.Empty, now));
            session.Insert(NewCommand(operation, vm.Id, vm.HostId, new VmCommand(operation, vm.Id, v, null), now));
        }

        await session.SaveChangesAsync(ct);
        dispatcher.Wake();
        notifier.Publish(new VmChanged(vm.Id, vm.OwnerId));
    }

    /// <summary>The longest lease the VM may have: the smallest maximum of its flavor, template, group and owner's quota; null when none applies.</summary>
    public static async Task<(TimeSpan Max, string Why)?> MaxLeaseOfAsync(IQuerySession session, Vm vm, CancellationToken ct = default)
    {
        var maxima = new List<(TimeSpan Max, string Why)>();
        if (vm.FlavorId is { } flavorId && await session.LoadAsync<Flavor>(flavorId, ct) is { MaxLease: { } f } flavor)
        {
            maxima.Add((f, $"flavor '{flavor.Name}'"));
        }

        if (vm.TemplateId is { } templateId && await session.LoadAsync<VmTemplate>(templateId, ct) is { MaxLease: { } t } template)
        {
            maxima.Add((t, $"template '{template.Name}'"));
        }

        if (vm.GroupId is { } groupId && (await QuotaService.EffectiveAsync(session, groupId, group: true, ct)).MaxLease is { } g)
        {
            maxima.Add((g, $"group '{(await session.LoadAsync<Group>(groupId, ct))?.Name}'"));
        }

        if ((await QuotaService.EffectiveAsync(session, vm.OwnerId, group: false, ct)).MaxLease is { } u)
        {
            maxima.Add((u, "the owner's quota"));
        }

        return maxima.Count == 0 ? null : maxima.MinBy(m => m.Max);
    }

    /// <summary>
    /// Sets the VM's lease to end <paramref name="lease"/> from now (never, when null). Within the
    /// maximum that applies it takes effect at once and an expired VM may be started again; beyond
    /// it (or, with a maximum, for no end at all) it needs an admin's approval.
    /// </summary>
    public async Task ExtendLeaseAsync(ClaimsPrincipal user, Guid vmId, TimeSpan? lease, CancellationToken ct = default, bool approved = false, Guid? requestId = null, Func<IDocumentSession, Task>? alsoInTransaction = null)
    {
        // 0 ends it now: the VM is shut down and marked Expired at once, as when its time comes (an owner or an admin taking its room back).
        if (lease is { } l && (l < TimeSpan.Zero || l > MaxLease))
        {
            throw new RefusedException("Lease: from 0 minutes (it ends now) to 10 years, or none.", "lease");
        }

        // A write that landed in between (the agent's report of the VM, the lease keeper's notice) is
        // read and decided again: the lease counts from now either way.
        Vm? vm = null;
        try
        {
            await ConcurrencyRetry.RunAsync(async () =>
            {
                await using var session = store.LightweightSession();
                var stream = await FetchForAsync(session, user, vmId, VmAction.ChangeLease, ct);
                vm = stream.Aggregate!;

                if (vm.Status is VmStatus.Deleting || vm.PendingVerb is VmVerb.Delete)
                {
                    throw new RefusedException($"'{vm.Name}' is being deleted.");
                }

                if (!approved && !user.IsAdmin() && await MaxLeaseOfAsync(session, vm, ct) is { } max && (lease is null || lease > max.Max))
                {
                    throw new ApprovalNeededException([$"Lease: {(lease is { } asked ? Durations.Describe(asked) : "no end")} asked, at most {Durations.Describe(max.Max)} for {max.Why}."]);
                }

                var now = clock.GetUtcNow();
                stream.AppendOne(new VmLeaseSet(now + lease, user.UserId(), now, requestId));
                audit.Add(session, user, AuditKind.VmOperation, $"Lease of '{vm.Name}' {lease switch { null => "set to never end", { Ticks: 0 } => "ended now", { } set => $"set to end in {Durations.Describe(set)}" }}", vm.Id);
                if (alsoInTransaction is not null)
                {
                    await alsoInTransaction(session);
                }

                await session.SaveChangesAsync(ct);
            });
        }
        catch (ConcurrencyException)
        {
            throw new RefusedException("The VM changed meanwhile; look at it and try again.");
        }

        notifier.Publish(new VmChanged(vm!.Id, vm.OwnerId));
    }
}
