using System.Security.Claims;
using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Admin;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Placement;

/// <summary>No host can take the VM: <see cref="Exception.Message"/> is the sentence for members, <see cref="Decision"/> the detail per host for admins.</summary>
public sealed class NoHostException(PlacementDecision decision) : VmRequestException(decision.Refusal ?? "No host can take this VM right now.")
{
    public PlacementDecision Decision { get; } = decision;

    /// <summary>Every host and why it was passed over, for admins.</summary>
    public string Detail => string.Join("; ", Decision.PassedOver.Select(p => $"{p.HostName}: {p.Reason}"));
}

/// <summary>Published to live pages when a host's policy or maintenance changed.</summary>
public sealed record PlacementChanged;

/// <summary>Places VMs on hosts under each host's overcommit policy, inside the create's transaction; admins set the policies.</summary>
public sealed class PlacementService(
    IDocumentStore store, PolicyService policies, Audit audit, ChangeNotifier<PlacementChanged> changes, ChangeNotifier<HostsChanged> hostChanges,
    Microsoft.AspNetCore.SignalR.IHubContext<HostAgentHub, Paddock.Engine.Contract.IHostAgent> hub, HostConnections connections, TimeProvider clock)
{
    /// <summary>What the host's agent acts on itself: its effective RAM ratio (KSM follows it).</summary>
    public static async Task<Paddock.Engine.Contract.HostSettings> SettingsOfAsync(IDocumentStore store, Guid hostId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var policy = await session.LoadAsync<HostPolicy>(hostId, ct);
        return new Paddock.Engine.Contract.HostSettings((policy?.Policy ?? (await PolicyService.GetAsync(session, ct)).Overcommit).RamRatio, policy?.AllowUnconfined ?? false);
    }

    /// <summary>Tells every connected host (or just <paramref name="only"/>) its settings again after a policy changed.</summary>
    private async Task PushSettingsAsync(Guid? only, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var ids = only is { } id ? [id] : await session.Query<HostRecord>().Where(h => h.Connected).Select(h => h.Id).ToListAsync(ct);
        foreach (var hostId in ids)
        {
            if (connections.ConnectionOf(hostId) is { } connection)
            {
                await hub.Clients.Client(connection).ApplyHostSettings(await SettingsOfAsync(store, hostId, ct));
            }
        }
    }

    /// <summary>Every host as placement sees it: capacity, the policy that applies, allocations, maintenance, reachability.</summary>
    public static async Task<IReadOnlyList<HostView>> HostsAsync(IQuerySession session, CancellationToken ct = default)
    {
        var fleet = (await PolicyService.GetAsync(session, ct)).Overcommit;
        var hosts = await session.Query<HostRecord>().Where(h => !h.Revoked).ToListAsync(ct);
        var policies = (await session.LoadManyAsync<HostPolicy>(ct, hosts.Select(h => h.Id))).ToDictionary(p => p.Id);
        // Summed by the database: every placement asks.
        var allocated = (await VmUsageTotals.PerHostAsync(session, ct)).ToDictionary(t => t.Key, t => new Resources(t.Value.VCpus, t.Value.MemoryMiB, t.Value.DiskMiB));
        return [.. hosts.OrderBy(h => h.Name).Select(h =>
        {
            var policy = policies.GetValueOrDefault(h.Id);
            return new HostView(
                h.Id, h.Name, h.LogicalCpus, h.MemoryBytes / (1024 * 1024), h.DiskBytes / (1024 * 1024), policy?.Policy ?? fleet,
                allocated.GetValueOrDefault(h.Id), h.Connected, policy?.Maintenance ?? false, h.Accelerator,
                h.ConfinementMissing.Count > 0 && policy?.AllowUnconfined != true ? string.Join(", ", h.ConfinementMissing) : null,
                h.Images);
        })];
    }

    /// <summary>
    /// Chooses a host for <paramref name="request"/> (only <paramref name="onlyOn"/>, for a clone
    /// whose disks are there) and books it in <paramref name="session"/>: the chosen host's ledger
    /// is read before the allocations are counted and stored again version-checked, so a
    /// concurrent placement on the same host fails to save and decides again.
    /// </summary>
    public static async Task<PlacementDecision> PlaceAsync(IDocumentSession session, Resources request, Guid? onlyOn, TimeProvider clock, CancellationToken ct, string? accelerator = null, string? installedImage = null)
    {
        // One placement at a time across the fleet (and portal processes): each decides on what the
        // one before it booked. Nothing below opens a connection of its own: with every pooled
        // connection held by creates waiting in line, it would wait for one of them.
        await TransactionLocks.TakeAsync(session, TransactionLocks.Placement, Guid.Empty, ct);
        var ids = await session.Query<HostRecord>().Where(h => !h.Revoked).Select(h => h.Id).ToListAsync(ct);
        var ledgers = (await session.LoadManyAsync<HostLedger>(ct, ids)).ToDictionary(l => l.Id);
        var hosts = await HostsAsync(session, ct);
        if (onlyOn is { } fixedHost)
        {
            hosts = [.. hosts.Where(h => h.Id == fixedHost)];
        }

        var fleet = (await PolicyService.GetAsync(session, ct)).Overcommit;
        var decision = Placement.Decide(hosts, request, fleet.Weigher, accelerator, installedImage);
        if (decision.Chosen is not { } chosen)
        {
            throw new NoHostException(decision);
        }

        // A host's first placement makes its ledger (a concurrent first one fails on the key and decides again).
        if (ledgers.GetValueOrDefault(chosen.Id) is { } ledger)
        {
            ledger.Placements++;
            ledger.LastPlacedAt = clock.GetUtcNow();
            session.Store(ledger);
        }
        else
        {
            session.Insert(new HostLedger { Id = chosen.Id, Placements = 1, LastPlacedAt = clock.GetUtcNow() });
        }

        return decision;
    }

    /// <summary>Whether a VM of these sizes could be placed now, for the create dialog: null when it can, otherwise the sentence.</summary>
    public static async Task<string?> PreviewAsync(IQuerySession session, Resources request, CancellationToken ct = default)
    {
        var decision = Placement.Decide(await HostsAsync(session, ct), request, (await PolicyService.GetAsync(session, ct)).Overcommit.Weigher);
        return decision.Refusal;
    }

    public async Task SetFleetPolicyAsync(ClaimsPrincipal admin, OvercommitPolicy policy, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        await using (var session = store.QuerySession())
        {
            await policies.SetAsync(admin, await PolicyService.GetAsync(session, ct) with { Overcommit = policy }, ct);
        }

        changes.Publish(new PlacementChanged());
        await PushSettingsAsync(null, ct);
    }

    /// <summary>Gives the host a policy of its own, or (null) the fleet's again.</summary>
    public async Task SetHostPolicyAsync(ClaimsPrincipal admin, Guid hostId, OvercommitPolicy? policy, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        if (policy is not null && OvercommitPolicy.Validate(policy) is { } problem)
        {
            throw new VmRequestException(problem, "policy");
        }

        await ChangeHostAsync(admin, hostId, new HostPolicySet(hostId, policy, admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()),
            name => policy is null ? $"Host {name} follows the fleet's overcommit policy" : $"Host {name}: {Describe(policy)}", ct);
        await PushSettingsAsync(hostId, ct);
    }

    /// <summary>Allows VMs to start on the host without the walls it lacks (own uid, sandbox, SELinux labels), or no longer.</summary>
    public async Task SetAllowUnconfinedAsync(ClaimsPrincipal admin, Guid hostId, bool allowed, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        await ChangeHostAsync(admin, hostId, new HostUnconfinedAllowed(hostId, allowed, admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()),
            name => allowed ? $"Allow unconfined VMs on host {name}" : $"No unconfined VMs on host {name}", ct);
        await PushSettingsAsync(hostId, ct);
    }

    public Task SetMaintenanceAsync(ClaimsPrincipal admin, Guid hostId, bool maintenance, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        return ChangeHostAsync(admin, hostId, new HostMaintenanceSet(hostId, maintenance, admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()),
            name => maintenance ? $"Put host {name} in maintenance" : $"Take host {name} out of maintenance", ct);
    }

    private async Task ChangeHostAsync(ClaimsPrincipal admin, Guid hostId, object change, Func<string, string> what, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var host = await session.LoadAsync<HostRecord>(hostId, ct) ?? throw new VmRequestException("No such host.");
        session.Events.Append(hostId, change);
        audit.Add(session, admin, AuditKind.HostChanged, what(host.Name));
        await session.SaveChangesAsync(ct);
        changes.Publish(new PlacementChanged());
        hostChanges.Publish(new HostsChanged());
    }

    public static string Describe(OvercommitPolicy p) =>
        $"CPU ratio {p.CpuRatio}, RAM ratio {p.RamRatio}, disk ratio {p.DiskRatio}, {p.ReservedCpus} CPUs and {p.ReservedMemoryMiB} MiB reserved, {p.Weigher.ToString().ToLowerInvariant()}";

    private static void RequireAdmin(ClaimsPrincipal user)
    {
        if (!user.IsAdmin())
        {
            throw new VmRequestException("Only admins may change placement.");
        }
    }
}
