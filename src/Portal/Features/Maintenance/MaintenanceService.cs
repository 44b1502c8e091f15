using System.Security.Claims;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>Published to live pages (and the keeper) when a host's evacuation started, stepped or ended.</summary>
public sealed record EvacuationChanged(Guid HostId);

/// <summary>How to evacuate a host: how many VMs move at once, and which VMs to shut down instead (those that cannot move).</summary>
public sealed record EvacuationOrder(int Concurrency, IReadOnlyCollection<Guid> ShutDown);

/// <summary>Some running VMs can neither move nor were chosen to be shut down: the host stays out of maintenance.</summary>
public sealed class EvacuationBlockedException(IReadOnlyList<BlockedVm> blocked) : RefusedException(
    $"{Vms(blocked.Count)} cannot move: {string.Join("; ", blocked.Select(b => $"{b.Name}: {b.Reason}"))}. Choose to shut {(blocked.Count == 1 ? "it" : "them")} down, or leave the host out of maintenance.")
{
    public IReadOnlyList<BlockedVm> Blocked { get; } = blocked;

    public override IResult ToProblem(Dictionary<string, object?>? offer) =>
        Results.Problem(statusCode: 409, title: Message, extensions: new Dictionary<string, object?> { ["blocked"] = Blocked });

    private static string Vms(int count) => count == 1 ? "1 running VM" : $"{count} running VMs";
}

/// <summary>
/// Maintenance as admins ask for it: plan an evacuation, put a host in maintenance (emptying it, or
/// not), call an evacuation off, and take the host out again (bringing back what the last
/// evacuation moved away, or not). The moves themselves are the <see cref="EvacuationKeeper"/>'s.
/// </summary>
public sealed class MaintenanceService(
    IDocumentStore store, PlacementService placements, Audit audit, ChangeNotifier<EvacuationChanged> changes,
    IOptions<MaintenanceOptions> options, IOptions<PortalOptions> portal, TimeProvider clock)
{
    /// <summary>What an evacuation of the host would do with each of its VMs now; null when there is no such host.</summary>
    public async Task<EvacuationPlan?> PlanAsync(Guid hostId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return await PlanAsync(session, hostId, ct);
    }

    private async Task<EvacuationPlan?> PlanAsync(IQuerySession session, Guid hostId, CancellationToken ct)
    {
        var hosts = await PlacementService.HostsAsync(session, ct);
        if (hosts.FirstOrDefault(h => h.Id == hostId) is not { } host)
        {
            return null;
        }

        var vms = await session.Query<Vm>().Where(v => v.HostId == hostId).ToListAsync(ct);
        var weigher = (await PolicyService.GetAsync(session, ct)).Overcommit.Weigher;
        return EvacuationPlanner.Plan(host, hosts, vms, weigher, portal.Value.Template.Image);
    }

    /// <summary>The host's latest evacuation or bring-back, if it had one.</summary>
    public async Task<HostEvacuation?> LatestAsync(Guid hostId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<HostEvacuation>(hostId, ct);
    }

    /// <summary>The VMs the host's last evacuation moved away that still run elsewhere: what leaving with a bring-back would move back.</summary>
    public async Task<IReadOnlyList<EvacuationItem>> StillAwayAsync(Guid hostId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<HostEvacuation>(hostId, ct) is { Kind: EvacuationKind.Evacuate } last ? await StillAwayAsync(session, last, ct) : [];
    }

    /// <summary>
    /// Puts the host in maintenance. With an <paramref name="order"/>, also evacuates it: decided on
    /// a fresh plan in the same transaction, refused while a running VM can neither move nor is in
    /// the order's shut-down list. Returns the evacuation, or null when there was nothing to move.
    /// </summary>
    public async Task<HostEvacuation?> EnterAsync(ClaimsPrincipal admin, Guid hostId, EvacuationOrder? order, CancellationToken ct = default)
    {
        if (order is null)
        {
            await placements.SetMaintenanceAsync(admin, hostId, true, ct);
            return null;
        }

        if (MaintenanceOptions.ConcurrencyProblem(order.Concurrency) is { } problem)
        {
            throw new RefusedException(problem, "concurrency");
        }

        HostEvacuation? started = null;
        await placements.SetMaintenanceAsync(admin, hostId, true, ct, async (session, host) =>
        {
            var last = await UnderWayRefusedAsync(session, host, ct);
            var plan = (await PlanAsync(session, hostId, ct))!;
            var unresolved = plan.Blocked.Where(b => !order.ShutDown.Contains(b.VmId)).ToList();
            if (unresolved.Count > 0)
            {
                throw new EvacuationBlockedException(unresolved);
            }

            List<EvacuationItem> items =
            [
                .. plan.Moves.Select(m => new EvacuationItem(m.VmId, m.Name, order.ShutDown.Contains(m.VmId) ? EvacuationIntent.ShutDown : EvacuationIntent.Move)),
                .. plan.Blocked.Select(b => new EvacuationItem(b.VmId, b.Name, EvacuationIntent.ShutDown)),
            ];
            started = Begin(session, admin, host, last, EvacuationKind.Evacuate, items, order.Concurrency);
        });
        Publish(hostId);
        return started;
    }

    /// <summary>
    /// Takes the host out of maintenance; with <paramref name="bringBack"/>, the VMs its last
    /// evacuation moved away that still run elsewhere are moved back, <paramref name="concurrency"/>
    /// at a time. Refused while an evacuation of the host is under way. Returns the bring-back, or null.
    /// </summary>
    public async Task<HostEvacuation?> LeaveAsync(ClaimsPrincipal admin, Guid hostId, bool bringBack, int? concurrency = null, CancellationToken ct = default)
    {
        var atOnce = concurrency ?? options.Value.Concurrency;
        if (bringBack && MaintenanceOptions.ConcurrencyProblem(atOnce) is { } problem)
        {
            throw new RefusedException(problem, "concurrency");
        }

        HostEvacuation? started = null;
        await placements.SetMaintenanceAsync(admin, hostId, false, ct, async (session, host) =>
        {
            var last = await UnderWayRefusedAsync(session, host, ct);
            if (bringBack && last is { Kind: EvacuationKind.Evacuate } && await StillAwayAsync(session, last, ct) is { Count: > 0 } away)
            {
                started = Begin(session, admin, host, last, EvacuationKind.BringBack, away, atOnce);
            }
        });
        Publish(hostId);
        return started;
    }

    /// <summary>Calls off the host's evacuation or bring-back: no new move starts, and moves in flight are called off where they still can be.</summary>
    public async Task CancelAsync(ClaimsPrincipal admin, Guid hostId, CancellationToken ct = default)
    {
        if (!admin.IsAdmin())
        {
            throw new RefusedException("Only admins may change placement.");
        }

        // The keeper stores the same document at every step: read again and decide again on a conflict.
        await ConcurrencyRetry.RunAsync(async () =>
        {
            await using var session = store.LightweightSession();
            var evacuation = await session.LoadAsync<HostEvacuation>(hostId, ct);
            if (evacuation is not { Active: true })
            {
                throw new RefusedException("No evacuation of this host is under way.");
            }

            if (evacuation.State == EvacuationState.Running)
            {
                evacuation.State = EvacuationState.Cancelling;
                evacuation.Note = $"Cancelled by {admin.Identity?.Name}.";
                session.Store(evacuation);
                audit.Add(session, admin, AuditKind.HostChanged, $"Cancel the {Noun(evacuation.Kind)} of host {evacuation.HostName}");
                await session.SaveChangesAsync(ct);
            }
        });
        Publish(hostId);
    }

    public static string Noun(EvacuationKind kind) => kind == EvacuationKind.BringBack ? "bring-back" : "evacuation";

    /// <summary>The host's last evacuation; refused while it is under way.</summary>
    private static async Task<HostEvacuation?> UnderWayRefusedAsync(IDocumentSession session, HostRecord host, CancellationToken ct)
    {
        var last = await session.LoadAsync<HostEvacuation>(host.Id, ct);
        return last is { Active: true }
            ? throw new RefusedException($"The {Noun(last.Kind)} of {host.Name} is under way; cancel it first, or wait for it to end.")
            : last;
    }

    /// <summary>The VMs <paramref name="last"/> moved away that still run elsewhere, each to be moved back.</summary>
    private static async Task<List<EvacuationItem>> StillAwayAsync(IQuerySession session, HostEvacuation last, CancellationToken ct)
    {
        var moved = last.Items.Where(i => i.State == EvacuationItemState.Moved).Select(i => i.VmId).ToList();
        var vms = await session.LoadManyAsync<Vm>(ct, moved);
        return [.. vms
            .Where(v => v.HostId != last.Id && v.Status is VmStatus.Running or VmStatus.Paused && v.Migration is null)
            .OrderBy(v => moved.IndexOf(v.Id))
            .Select(v => new EvacuationItem(v.Id, v.Name, EvacuationIntent.Move))];
    }

    /// <summary>Records a new evacuation in place of the host's last one (version-checked against it), in the admin's name, and audits it.</summary>
    private HostEvacuation Begin(
        IDocumentSession session, ClaimsPrincipal admin, HostRecord host, HostEvacuation? last, EvacuationKind kind, List<EvacuationItem> items, int concurrency)
    {
        var evacuation = new HostEvacuation
        {
            Id = host.Id,
            HostName = host.Name,
            Kind = kind,
            State = items.Count == 0 ? EvacuationState.Done : EvacuationState.Running,
            Concurrency = concurrency,
            Retries = options.Value.Retries,
            ById = admin.UserId(),
            ByName = admin.Identity?.Name ?? "",
            StartedAt = clock.GetUtcNow(),
            Items = items,
        };
        if (last is null)
        {
            session.Insert(evacuation);
        }
        else
        {
            session.Store(evacuation);
        }

        var moves = items.Where(i => i.Intent == EvacuationIntent.Move).Select(i => i.Name).ToList();
        var stops = items.Where(i => i.Intent == EvacuationIntent.ShutDown).Select(i => i.Name).ToList();
        audit.Add(session, admin, AuditKind.HostChanged,
            $"{(kind == EvacuationKind.BringBack ? $"Bring back to host {host.Name}" : $"Evacuate host {host.Name}")}: move {Names(moves)}{(stops.Count > 0 ? $", shut down {Names(stops)}" : "")}, {concurrency} at a time");
        return evacuation;
    }

    private static string Names(List<string> names) => names.Count == 0 ? "no VM" : string.Join(", ", names.Select(n => $"'{n}'"));

    private void Publish(Guid hostId) => changes.Publish(new EvacuationChanged(hostId));
}
