using System.Security.Claims;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Placement;

/// <summary>No host can take the VM: <see cref="Exception.Message"/> is the sentence for members, <see cref="Decision"/> the detail per host for admins.</summary>
public sealed class NoHostException(PlacementDecision decision) : RefusedException(decision.Refusal ?? "No host can take this VM right now.")
{
    public PlacementDecision Decision { get; } = decision;

    /// <summary>Every host and why it was passed over, for admins.</summary>
    public string Detail => string.Join("; ", Decision.PassedOver.Select(p => $"{p.HostName}: {p.Reason}"));
}

/// <summary>
/// The host a placement chose filled up (through another portal process or another create), went
/// away or entered maintenance before it could be booked: a race lost, not a refusal. Creates decide again (<c>VmService</c>'s retries).
/// </summary>
public sealed class PlacementContendedException(string hostName)
    : Exception($"Host {hostName} changed while this VM was being placed (it filled up, went away or entered maintenance); place it again.");

/// <summary>Published to live pages when a host's policy or maintenance changed.</summary>
public sealed record PlacementChanged;

/// <summary>
/// A policy changed through another portal process reaches the hosts connected to this one: each
/// is told its settings again (the process it was changed through tells its own hosts before it answers).
/// </summary>
public sealed class HostSettingsPush(ChangeNotifier<PlacementChanged> changes, PlacementService placements) : ChangeFollower<PlacementChanged>(changes)
{
    protected override Task OnChangeAsync(PlacementChanged change) => placements.PushSettingsAsync(null, CancellationToken.None);
}

/// <summary>Places VMs on hosts under each host's overcommit policy, inside the create's transaction; admins set the policies.</summary>
public sealed class PlacementService(
    IDocumentStore store, PolicyService policies, Audit audit, ChangeNotifier<PlacementChanged> changes, ChangeNotifier<HostsChanged> hostChanges,
    Microsoft.AspNetCore.SignalR.IHubContext<HostAgentHub, IHostAgent> hub, HostConnections connections, TimeProvider clock) : IHostSettingsSource
{
    /// <summary>What the host's agent acts on itself: its effective RAM ratio (KSM follows it).</summary>
    public static async Task<HostSettings> SettingsOfAsync(IDocumentStore store, Guid hostId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var policy = await session.LoadAsync<HostPolicy>(hostId, ct);
        return new HostSettings((policy?.Policy ?? (await PolicyService.GetAsync(session, ct)).Overcommit).RamRatio, policy?.AllowUnconfined ?? false);
    }

    Task<HostSettings> IHostSettingsSource.SettingsOfAsync(Guid hostId, CancellationToken ct) => SettingsOfAsync(store, hostId, ct);

    /// <summary>Tells every host connected to this process (or just <paramref name="only"/>) its settings again after a policy changed.</summary>
    internal async Task PushSettingsAsync(Guid? only, CancellationToken ct)
    {
        IEnumerable<Guid> hosts = only is { } id ? [id] : connections.Hosts;
        foreach (var hostId in hosts)
        {
            if (connections.ConnectionOf(hostId) is { } connection)
            {
                await hub.Clients.Client(connection).ApplyHostSettings(await SettingsOfAsync(store, hostId, ct));
            }
        }
    }

    /// <summary>Every host as placement sees it: capacity, the policy that applies, allocations, maintenance, reachability.</summary>
    public static async Task<IReadOnlyList<HostView>> HostsAsync(IQuerySession session, CancellationToken ct = default) =>
        (await FleetAsync(session, ct)).Hosts;

    /// <summary>Every host as placement sees it, and the fleet's policy (read once for both).</summary>
    internal static async Task<(IReadOnlyList<HostView> Hosts, OvercommitPolicy Fleet)> FleetAsync(IQuerySession session, CancellationToken ct)
    {
        var fleet = (await PolicyService.GetAsync(session, ct)).Overcommit;
        var hosts = (await session.Query<HostRecord>().Where(h => !h.Revoked).ToListAsync(ct)).OrderBy(h => h.Name).ToList();
        return (await ViewsAsync(session, hosts, fleet, whole: true, ct), fleet);
    }

    /// <summary>A page of the hosts by name (those whose name holds <paramref name="term"/>) as placement sees them, their records, and how many matched.</summary>
    public static async Task<(IReadOnlyList<HostView> Hosts, IReadOnlyList<HostRecord> Records, int Total)> HostPageAsync(
        IQuerySession session, string? term, int skip, int take, CancellationToken ct = default)
    {
        var hosts = session.Query<HostRecord>().Stats(out var stats).Where(h => !h.Revoked);
        var found = term is null ? hosts : hosts.Where(h => h.Name.Contains(term, StringComparison.OrdinalIgnoreCase));
        var page = await found.OrderBy(h => h.Name).Skip(skip).Take(take).ToListAsync(ct);
        return (await ViewsAsync(session, page, (await PolicyService.GetAsync(session, ct)).Overcommit, whole: false, ct), page, (int)stats.TotalResults);
    }

    /// <summary><paramref name="hosts"/> with their policies and allocations (summed by the database: every placement asks; for those hosts only unless <paramref name="whole"/>).</summary>
    private static async Task<IReadOnlyList<HostView>> ViewsAsync(IQuerySession session, IReadOnlyList<HostRecord> hosts, OvercommitPolicy fleet, bool whole, CancellationToken ct)
    {
        var ids = hosts.Select(h => h.Id).ToList();
        var policies = (await session.LoadManyAsync<HostPolicy>(ct, ids)).ToDictionary(p => p.Id);
        var allocated = (await VmUsageTotals.PerHostAsync(session, ct, whole ? null : ids)).ToDictionary(t => t.Key, t => new Resources(t.Value.VCpus, t.Value.MemoryMiB, t.Value.DiskMiB));
        return [.. hosts.Select(h => ViewOf(h, policies.GetValueOrDefault(h.Id), fleet, allocated.GetValueOrDefault(h.Id)))];
    }

    private static HostView ViewOf(HostRecord h, HostPolicy? policy, OvercommitPolicy fleet, Resources allocated) => new(
        h.Id, h.Name, h.LogicalCpus, h.MemoryBytes / (1024 * 1024), h.DiskBytes / (1024 * 1024), policy?.Policy ?? fleet,
        allocated, h.Connected, policy?.Maintenance ?? false, h.Accelerator,
        h.ConfinementMissing.Count > 0 && policy?.AllowUnconfined != true ? string.Join(", ", h.ConfinementMissing) : null,
        h.Images, TenantNetworks: h.Vxlan is not null);

    /// <summary>
    /// Chooses a host for <paramref name="request"/> (only <paramref name="onlyOn"/>, for a clone
    /// whose disks are there or a migration an admin aimed; never <paramref name="except"/>, a moving VM's own host) and books it in <paramref name="session"/>
    /// (<see cref="BookAsync"/>). <paramref name="tenantNetworks"/>:
    /// the VM has a NIC on a tenant network, so only a host that lays them out may take it.
    /// <paramref name="view"/>: choose from this process's view of the fleet instead of reading it.
    /// </summary>
    public static async Task<PlacementDecision> PlaceAsync(
        IDocumentSession session, Resources request, Guid? onlyOn, TimeProvider clock, CancellationToken ct, string? accelerator = null, string? installedImage = null, Guid? except = null,
        bool tenantNetworks = false, PlacementView? view = null)
    {
        // Nothing below opens a connection of its own: with every pooled connection held by
        // creates waiting for a lock, it would wait for one of them.
        var (hosts, fleet) = view is null ? await FleetAsync(session, ct) : await view.CurrentAsync(session, ct);
        var decision = Decide(hosts);
        if (decision.Chosen is null && view is not null)
        {
            // A refusal is told on fresh figures only: the view may count bookings that never committed.
            view.Forget();
            (hosts, fleet) = await FleetAsync(session, ct);
            decision = Decide(hosts);
        }

        if (decision.Chosen is not { } chosen)
        {
            throw new NoHostException(decision);
        }

        try
        {
            await BookAsync(session, chosen.Id, request, host => Placement.Decide([host], request, fleet.Weigher, accelerator, installedImage, tenantNetworks), clock, ct);
        }
        catch (PlacementContendedException)
        {
            view?.Forget();
            throw;
        }

        view?.Booked(chosen.Id, request);
        return decision;

        // Only onlyOn (a clone whose disks are there, a migration an admin aimed), never except (a moving VM's own host).
        PlacementDecision Decide(IReadOnlyList<HostView> all)
        {
            var candidates = all.Where(h => (onlyOn is null || h.Id == onlyOn) && h.Id != except).ToList();
            var deciding = System.Diagnostics.Stopwatch.StartNew();
            var decided = Placement.Decide(candidates, request, fleet.Weigher, accelerator, installedImage, tenantNetworks);
            PortalMetrics.PlacementDecided(deciding.Elapsed, decided.Chosen is not null);
            return decided;
        }
    }

    /// <summary>
    /// Books <paramref name="request"/> on <paramref name="hostId"/>, chosen on figures read without
    /// a lock (or from this process's <see cref="PlacementView"/>): under the host's own lock, which
    /// every booking of that host takes, all earlier bookings of it have ended, so the host is read
    /// again (its record, its policy, its allocations) and must still pass <paramref name="decide"/>,
    /// the create's own filters (<see cref="PlacementContendedException"/> otherwise: the caller
    /// decides again). Placements on other hosts go on meanwhile, through any portal process. The
    /// host's ledger, read under the lock, is stored again version-checked, as the last word.
    /// </summary>
    private static async Task BookAsync(IDocumentSession session, Guid hostId, Resources request, Func<HostView, PlacementDecision> decide, TimeProvider clock, CancellationToken ct)
    {
        await TransactionLocks.TakeAsync(session, TransactionLocks.Placement, hostId, ct);
        if (await HostNowAsync(session, hostId, ct) is not { } host || decide(host).Chosen is null)
        {
            throw new PlacementContendedException((await session.LoadAsync<HostRecord>(hostId, ct))?.Name ?? hostId.ToString());
        }

        // A host's first placement makes its ledger.
        if (await session.LoadAsync<HostLedger>(hostId, ct) is { } ledger)
        {
            ledger.Placements++;
            ledger.LastPlacedAt = clock.GetUtcNow();
            session.Store(ledger);
        }
        else
        {
            session.Insert(new HostLedger { Id = hostId, Placements = 1, LastPlacedAt = clock.GetUtcNow() });
        }
    }

    /// <summary>One host as placement sees it now (its record, its policy and the fleet's in one round trip, then its allocations); null when it is gone or revoked.</summary>
    private static async Task<HostView?> HostNowAsync(IQuerySession session, Guid hostId, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var record = batch.Load<HostRecord>(hostId);
        var policy = batch.Load<HostPolicy>(hostId);
        var fleet = batch.Load<PolicyDocument>(PolicyDocument.StreamId);
        await batch.Execute(ct);
        if (await record is not { Revoked: false } host)
            return null;
        var now = await VmUsageTotals.OnHostAsync(session, hostId, ct);
        return ViewOf(host, await policy, ((await fleet)?.Policy ?? PortalPolicy.Default).Overcommit, new Resources(now.VCpus, now.MemoryMiB, now.DiskMiB));
    }

    /// <summary>
    /// Books <paramref name="growth"/> for a VM that grows on <paramref name="hostId"/>, in the
    /// caller's transaction and under the same lock and ledger as a placement, so a growth and a
    /// create can never together pass the host's capacity; refuses with the figures when it does not fit.
    /// </summary>
    public static async Task AdmitGrowthAsync(IDocumentSession session, Guid hostId, Resources growth, bool forAdmin, TimeProvider clock, CancellationToken ct)
    {
        await TransactionLocks.TakeAsync(session, TransactionLocks.Placement, hostId, ct);
        var host = await HostNowAsync(session, hostId, ct) ?? throw new RefusedException("The VM's host is gone.");
        if (Placement.CapacityRefusal(host, growth) is { } refusal)
        {
            throw new RefusedException(forAdmin
                ? $"Its host {host.Name} has no room for it: {refusal}."
                : "Its host has no room for that right now; ask an admin, or make the change smaller.", growth.VCpus > 0 ? "vcpus" : "size");
        }

        var ledger = await session.LoadAsync<HostLedger>(hostId, ct);
        if (ledger is null)
        {
            session.Insert(new HostLedger { Id = hostId, LastPlacedAt = clock.GetUtcNow() });
        }
        else
        {
            // Stored again version-checked, as a placement does: a concurrent booking on this host decides again.
            session.Store(ledger);
        }
    }

    /// <summary>Whether a VM of these sizes could be placed now, for the create dialog: null when it can, otherwise the sentence.</summary>
    public static async Task<string?> PreviewAsync(IQuerySession session, Resources request, bool tenantNetworks, CancellationToken ct = default)
    {
        var (hosts, fleet) = await FleetAsync(session, ct);
        var decision = Placement.Decide(hosts, request, fleet.Weigher, tenantNetworks: tenantNetworks);
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
            throw new RefusedException(problem, "policy");
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

    /// <summary>
    /// Takes the host out of placement, or gives it back. <paramref name="alongside"/> adds to the
    /// same transaction what comes with the change (an evacuation and its checks): a refusal it
    /// throws leaves the host as it was.
    /// </summary>
    public Task SetMaintenanceAsync(
        ClaimsPrincipal admin, Guid hostId, bool maintenance, CancellationToken ct = default, Func<IDocumentSession, HostRecord, Task>? alongside = null)
    {
        RequireAdmin(admin);
        return ChangeHostAsync(admin, hostId, new HostMaintenanceSet(hostId, maintenance, admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()),
            name => maintenance ? $"Put host {name} in maintenance" : $"Take host {name} out of maintenance", ct, alongside);
    }

    private async Task ChangeHostAsync(
        ClaimsPrincipal admin, Guid hostId, object change, Func<string, string> what, CancellationToken ct, Func<IDocumentSession, HostRecord, Task>? alongside = null)
    {
        await using var session = store.LightweightSession();
        var host = await session.LoadAsync<HostRecord>(hostId, ct) ?? throw new RefusedException("No such host.");
        if (alongside is not null)
        {
            await alongside(session, host);
        }

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
            throw new RefusedException("Only admins may change placement.");
        }
    }
}
