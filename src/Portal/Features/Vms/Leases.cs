using Marten;
using JasperFx;
using Marten.Exceptions;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms;

/// <summary>What the lease keeper does next about a VM.</summary>
public enum LeaseStep
{
    None,

    /// <summary>Tell the owner the lease ends soon.</summary>
    Notify,

    /// <summary>The lease ended: mark the VM Expired and shut it down.</summary>
    Expire,

    /// <summary>Expired and still running (it was busy when it expired): shut it down now.</summary>
    StopAgain,

    /// <summary>Expired and kept for the grace period, which is over: delete it.</summary>
    Delete,
}

/// <summary>Lease arithmetic: pure functions of the VM, the policy and the time.</summary>
public static class Leases
{
    public static LeaseStep Next(Vm vm, PortalPolicy policy, DateTimeOffset now)
    {
        if (vm.ExpiresAt is not { } expires || vm.Status is VmStatus.Deleting || vm.PendingVerb is VmVerb.Delete)
        {
            return LeaseStep.None;
        }

        if (vm.ExpiredAt is not null)
        {
            var idle = vm.PendingOperation is null;
            return !idle ? LeaseStep.None
                : now >= vm.DeleteAfter && vm.Status is VmStatus.Stopped or VmStatus.Crashed or VmStatus.Saved or VmStatus.Unknown ? LeaseStep.Delete
                : vm.Status is VmStatus.Running or VmStatus.Paused ? LeaseStep.StopAgain
                : LeaseStep.None;
        }

        return now >= expires ? LeaseStep.Expire
            : vm.ExpiryNoticeAt is null && now >= expires - policy.LeaseNotice ? LeaseStep.Notify
            : LeaseStep.None;
    }

    /// <summary>When something next becomes due for the VM, if ever; the keeper sleeps until the earliest.</summary>
    public static DateTimeOffset? NextDue(Vm vm, PortalPolicy policy) =>
        vm.ExpiresAt is not { } expires ? null
        : vm.ExpiredAt is not null ? vm.DeleteAfter
        : vm.ExpiryNoticeAt is null ? expires - policy.LeaseNotice
        : expires;

    /// <summary>Which verb ends a VM's run at expiry: the guest is asked to shut down; a paused or booting one cannot answer.</summary>
    public static VmVerb? StopVerb(Vm vm) => vm.Status switch
    {
        VmStatus.Running => VmVerb.Shutdown,
        VmStatus.Paused or VmStatus.Starting => VmVerb.PowerOff,
        _ => null,
    };

    /// <summary>"in 12 minutes", "5 minutes ago", for lease notices.</summary>
    public static string Relative(DateTimeOffset at, DateTimeOffset now) =>
        at >= now ? $"in {Durations.Describe(RoundUp(at - now))}" : $"{Durations.Describe(RoundUp(now - at))} ago";

    private static TimeSpan RoundUp(TimeSpan span) => span < TimeSpan.FromMinutes(1) ? span : TimeSpan.FromMinutes(Math.Ceiling(span.TotalMinutes));
}

/// <summary>
/// Evaluates leases in the background with the injected clock: tells owners before expiry, shuts
/// expired VMs down and marks them Expired, and deletes them when the grace period is over. Every
/// step is an event appended version-checked, so two portal processes cannot both take it.
/// </summary>
public sealed class LeaseKeeper(IDocumentStore store, VmService vms, ChangeNotifier<VmChanged> changes, TimeProvider clock, ILogger<LeaseKeeper> log)
    : Keeper(clock, log)
{
    protected override string Work => "Evaluating leases";

    // A lease changed here (a create, an extension) may be due sooner than the keeper planned.
    protected override IEnumerable<IDisposable> Follow(Func<Task> wake) => [changes.Subscribe(_ => wake())];

    public override async Task<TimeSpan> RunOnceAsync(CancellationToken ct)
    {
        IReadOnlyList<Vm> leased;
        PortalPolicy policy;
        await using (var query = store.QuerySession())
        {
            leased = await query.Query<Vm>().Where(v => v.ExpiresAt != null).ToListAsync(ct);
            policy = await PolicyService.GetAsync(query, ct);
        }

        var now = Clock.GetUtcNow();
        var deferred = false;
        foreach (var vm in leased.Where(v => Leases.Next(v, policy, now) is not LeaseStep.None))
        {
            try
            {
                await vms.TakeLeaseStepAsync(vm.Id, policy, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // The VM changed meanwhile, another portal took the step, or the database stumbled:
                // one VM's step never holds up the others', and the next round (a second away) looks again.
                deferred = true;
                Log.Log(e is ConcurrencyException or RefusedException ? LogLevel.Debug : LogLevel.Warning, e, "Lease step for VM {Vm} deferred", vm.Id);
            }
        }

        var next = deferred ? TimeSpan.Zero
            : leased.Select(v => Leases.NextDue(v, policy)).Where(d => d is not null).Select(d => d!.Value - now).Where(d => d > TimeSpan.Zero).DefaultIfEmpty(MaxSleep).Min();
        return Bounded(next);
    }
}
