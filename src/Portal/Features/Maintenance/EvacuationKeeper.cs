using System.Security.Claims;
using JasperFx;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Features.Vms.Operations;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>
/// Carries evacuations out in the background, in the name of the admin who started each: observes
/// what became of each VM, starts the next moves (and shutdowns), and stores the evacuation again
/// version-checked, so two portal processes cannot both take a step and a restarted portal carries
/// on. It wakes when a VM changes or an evacuation does, and otherwise sleeps until a failed VM may
/// be tried again.
/// </summary>
public sealed class EvacuationKeeper(
    IDocumentStore store, VmService vms, Audit audit, ChangeNotifier<VmChanged> vmChanges, ChangeNotifier<EvacuationChanged> changes,
    IOptions<MaintenanceOptions> options, TimeProvider clock, ILogger<EvacuationKeeper> log) : Keeper(clock, log)
{
    protected override string Work => "Stepping evacuations";

    protected override IEnumerable<IDisposable> Follow(Func<Task> wake) => [vmChanges.Subscribe(_ => wake()), changes.Subscribe(_ => wake())];

    /// <summary>Steps every evacuation under way once; returns how long until one may need a look again.</summary>
    public override async Task<TimeSpan> RunOnceAsync(CancellationToken ct)
    {
        IReadOnlyList<Guid> underWay;
        await using (var query = store.QuerySession())
        {
            underWay = await query.Query<HostEvacuation>()
                .Where(e => e.State == EvacuationState.Running || e.State == EvacuationState.Cancelling).Select(e => e.Id).ToListAsync(ct);
        }

        var next = MaxSleep;
        foreach (var hostId in underWay)
        {
            try
            {
                if (await StepAsync(hostId, ct) is { } at && at - Clock.GetUtcNow() is var until && until < next)
                {
                    next = until;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // Another portal stepped it, an admin cancelled it meanwhile, or the database stumbled: look again in a second.
                next = TimeSpan.Zero;
                Log.Log(e is ConcurrencyException ? LogLevel.Debug : LogLevel.Warning, e, "Evacuation step of host {Host} deferred", hostId);
            }
        }

        return Bounded(next);
    }

    /// <summary>Observes, takes the steps due, and stores the evacuation if anything changed; returns when a waiting VM may be tried again.</summary>
    private async Task<DateTimeOffset?> StepAsync(Guid hostId, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var evacuation = await session.LoadAsync<HostEvacuation>(hostId, ct);
        if (evacuation is not { Active: true })
        {
            return null;
        }

        // The VMs before the endings: a move that ended before the VMs were read has its ending in the store.
        var machines = (await session.LoadManyAsync<Vm>(ct, evacuation.Items.Select(i => i.VmId))).ToDictionary(v => v.Id);
        var endings = await EndingsAsync(session, evacuation.Items, ct);
        var delay = options.Value.RetryDelay;
        var items = Evacuations.Observe(evacuation, machines, endings, Clock.GetUtcNow(), delay);
        var admin = await ActorAsync(session, evacuation, ct);
        var state = evacuation.State;
        if (admin is null && state == EvacuationState.Running)
        {
            // Nobody may act in the name of an account that is no longer an admin's.
            state = EvacuationState.Cancelling;
            evacuation.Note = $"{evacuation.ByName} is no longer an admin: no further VM is moved.";
        }
        else if (admin is not null)
        {
            foreach (var step in Evacuations.Steps(evacuation, items, machines, Clock.GetUtcNow()))
            {
                var index = items.FindIndex(i => i.VmId == step.VmId);
                items[index] = await TakeAsync(admin, evacuation, step, items[index], ct);
            }
        }

        state = Evacuations.StateAfter(state, items);
        if (state == evacuation.State && items.SequenceEqual(evacuation.Items))
        {
            return Evacuations.WakeAt(items);
        }

        Record(session, evacuation, items, state);
        await session.SaveChangesAsync(ct);
        changes.Publish(new EvacuationChanged(hostId));
        return Evacuations.WakeAt(items);
    }

    /// <summary>One step for one VM, in the admin's name; a refusal is a failed attempt (a call-off refused is too late, and nothing).</summary>
    private async Task<EvacuationItem> TakeAsync(ClaimsPrincipal admin, HostEvacuation evacuation, EvacuationStep step, EvacuationItem item, CancellationToken ct)
    {
        try
        {
            switch (step)
            {
                case StartMove move:
                    return Evacuations.Started(item, await vms.MigrateAsync(admin, move.VmId, move.ToHostId, ct));
                case StopVm stop:
                    await vms.RunAsync(admin, SimpleOperation.Of(stop.VmId, stop.Verb)!, ct);
                    return Evacuations.Stopping(item);
                default:
                    await vms.CancelMigrationAsync(admin, step.VmId, ct);
                    return item;
            }
        }
        catch (RefusedException e) when (step is not CallOffMove)
        {
            var reason = e is NoHostException none ? $"{e.Message} ({none.Detail})" : e.Message;
            return Evacuations.Refused(evacuation, item, reason, Clock.GetUtcNow(), options.Value.RetryDelay);
        }
        catch (Exception e) when (e is RefusedException or VmNotFoundException)
        {
            // Too late to call off (it ends by itself), or the VM is gone (the next look sees it).
            return item;
        }
    }

    /// <summary>Stores the items and state; an evacuation that ended is timed and audited in its admin's name.</summary>
    private void Record(IDocumentSession session, HostEvacuation evacuation, List<EvacuationItem> items, EvacuationState state)
    {
        var ended = state is EvacuationState.Done or EvacuationState.Cancelled;
        evacuation.Items = items;
        evacuation.State = state;
        if (ended)
        {
            evacuation.EndedAt = Clock.GetUtcNow();
            audit.Add(session, evacuation.ById, evacuation.ByName, AuditKind.HostChanged,
                $"The {MaintenanceService.Noun(evacuation.Kind)} of host {evacuation.HostName} {(state == EvacuationState.Cancelled ? "was cancelled" : "ended")}: {Evacuations.Summary(items)}");
        }

        session.Store(evacuation);
    }

    /// <summary>How the moves the items name ended, by migration id (their tasks' completions).</summary>
    private static async Task<IReadOnlyDictionary<Guid, VmOperationCompleted>> EndingsAsync(IQuerySession session, IEnumerable<EvacuationItem> items, CancellationToken ct)
    {
        var ids = items.Where(i => i.State == EvacuationItemState.Moving && i.MigrationId is not null).Select(i => i.MigrationId!.Value).ToList();
        if (ids.Count == 0)
        {
            return new Dictionary<Guid, VmOperationCompleted>();
        }

        var ended = await session.Events.QueryRawEventDataOnly<VmOperationCompleted>().Where(e => ids.Contains(e.OperationId)).ToListAsync(ct);
        return ended.DistinctBy(e => e.OperationId).ToDictionary(e => e.OperationId);
    }

    /// <summary>The admin who started the evacuation, as a principal to act in the name of; null once the account is disabled, gone or no longer an admin's.</summary>
    private static async Task<ClaimsPrincipal?> ActorAsync(IQuerySession session, HostEvacuation evacuation, CancellationToken ct) =>
        await session.LoadAsync<PortalUser>(evacuation.ById, ct) is { Disabled: false, Role: Roles.Admin } user ? Accounts.Accounts.ToPrincipal(user) : null;
}
