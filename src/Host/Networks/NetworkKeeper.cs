using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Paddock.Engine.Networks;
using Paddock.Engine.Vms;
using Paddock.Host.Vms;

namespace Paddock.Host.Networks;

/// <summary>
/// Makes this host's kernel networking match what it should carry: the networks the portal listed
/// (<see cref="ApplyAsync"/>) and those the NICs of the VMs here use. It reads what exists under the
/// agent's prefix and changes only the difference, so a restarted agent re-creates nothing that is
/// there and duplicates nothing; what no longer belongs (a network neither listed nor used here) is
/// removed: dnsmasq, namespace, bridge, veths, VXLAN, and its part of the walls. One reconcile at a time.
/// </summary>
public sealed class NetworkKeeper(IOptions<AgentOptions> options, VmTable vms, NetworkDns dns, ILogger<NetworkKeeper> log) : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly SemaphoreSlim _listLock = new(1, 1);
    private int _scheduled;
    private readonly string _listFile = Path.Combine(options.Value.StateDir, "networks.json");
    private IReadOnlyList<HostNetwork>? _listed;

    public NetworkNames Names { get; } = new(options.Value.NetworkPrefix);

    /// <summary>This host's VXLAN endpoint, as it registers it.</summary>
    public VxlanEndpoint Local { get; } = new(options.Value.VxlanAddress, options.Value.VxlanPort);

    /// <summary>
    /// What the host registers: <see cref="Local"/>, or null when the agent lays out no tenant
    /// network (bridges, namespaces, taps) because it is not root or not on Linux; placement keeps
    /// VMs on one off this host.
    /// </summary>
    public VxlanEndpoint? Registered => CanLayOut ? Local : null;

    /// <summary>Bridges, namespaces, taps and nft tables are Linux's, and need root.</summary>
    private static bool CanLayOut => OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess;

    /// <summary>The provider networks the last reconcile could not lay out here, by VNI, with the reason: a NIC on one does not start.</summary>
    public IReadOnlyDictionary<int, ProviderLinkException> Refusals { get; private set; } = new Dictionary<int, ProviderLinkException>();

    /// <summary>The portal's whole list for this host, laid out before this returns. A list that cannot be carried is refused whole (the old one stays).</summary>
    public async Task ApplyAsync(IReadOnlyList<HostNetwork> networks, CancellationToken ct)
    {
        await KeepAsync(networks, ct);
        await ReconcileAsync(ct);
    }

    /// <summary>
    /// The portal's list as the hub brings it: kept at once, laid out in the background. SignalR's
    /// .NET client runs an agent's hub handlers one at a time, so a reconcile awaited here would
    /// hold up every command and console dial behind it (a console after an agent restart waited
    /// out its 15 s for one). A VM that starts lays out its own networks first (<see cref="NetworkTaps"/>).
    /// </summary>
    public async Task TakeAsync(IReadOnlyList<HostNetwork> networks, CancellationToken ct)
    {
        await KeepAsync(networks, ct);
        Schedule();
    }

    private async Task KeepAsync(IReadOnlyList<HostNetwork> networks, CancellationToken ct)
    {
        NetworkPlan.Create(Names, Local, networks, Nics());
        await _listLock.WaitAsync(ct);
        try
        {
            // Kept for a restarted agent: it makes the same networks (peers and names included) before the portal speaks.
            Directory.CreateDirectory(options.Value.StateDir);
            await RunDirectory.WriteAtomicallyAsync(_listFile, JsonSerializer.Serialize(networks), ct);
            _listed = networks;
        }
        finally
        {
            _listLock.Release();
        }
    }

    private async Task<IReadOnlyList<HostNetwork>> ListedAsync(CancellationToken ct)
    {
        await _listLock.WaitAsync(ct);
        try
        {
            return _listed ??= File.Exists(_listFile) ? JsonSerializer.Deserialize<List<HostNetwork>>(await File.ReadAllTextAsync(_listFile, ct)) ?? [] : [];
        }
        finally
        {
            _listLock.Release();
        }
    }

    /// <summary>Makes everything match; returns the plan it made real.</summary>
    public Task<NetworkPlan> ReconcileAsync(CancellationToken ct) => ReconcileAsync(ct, locked: null);

    private async Task<NetworkPlan> ReconcileAsync(CancellationToken ct, Action? locked)
    {
        await _lock.WaitAsync(ct);
        try
        {
            locked?.Invoke();
            var plan = NetworkPlan.Create(Names, Local, await ListedAsync(ct), Nics());
            if (!CanLayOut)
            {
                // Placement sends no VM on a network here (the host registered no VXLAN endpoint); one that came anyway fails saying why.
                return plan.Networks.Count == 0 ? plan : throw new InvalidOperationException("This agent does not run as root: it lays out no tenant network.");
            }

            var links = LinkInventory.ParseLinks(await NetworkTools.RunAsync(IpCommands.ListLinks(), ct: ct));
            var namespaces = ExistingNamespaces();
            var refusals = plan.Refused.ToDictionary(r => r.Key, r => new ProviderLinkException(r.Value));
            foreach (var (vni, reason) in plan.Refused)
                log.LogWarning("Provider network {Vni} cannot be carried here: {Reason}", vni, reason);
            foreach (var network in plan.Networks)
            {
                try
                {
                    await EnsureAsync(network, links, namespaces, ct);
                }
                catch (ProviderLinkException e)
                {
                    // One host interface that cannot be taken keeps only its own network off this host.
                    log.LogWarning("Provider network {Vni} cannot be carried here: {Reason}", network.Layout.Vni, e.Message);
                    refusals[network.Layout.Vni] = e;
                }
            }

            Refusals = refusals;
            await RemoveStaleAsync(plan, links, namespaces, ct);
            await ApplyWallsAsync(plan, ct);
            return plan;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Reconciles in the background (a VM left this host, or the portal's list came): errors are
    /// logged, the next reconcile tries again. One waiting for its turn is enough: it reads what is
    /// wanted only once it runs, so the calls meanwhile add nothing.
    /// </summary>
    public void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 1)
            return;
        _ = Task.Run(async () =>
        {
            try
            {
                await ReconcileAsync(CancellationToken.None, locked: () => Volatile.Write(ref _scheduled, 0));
            }
            catch (Exception e)
            {
                Volatile.Write(ref _scheduled, 0);
                log.LogWarning("Reconciling the networks failed: {Message}", e.Message);
            }
        });
    }

    private async Task EnsureAsync(PlannedNetwork network, IReadOnlyList<Link> links, HashSet<string> namespaces, CancellationToken ct)
    {
        var n = network.Layout;
        bool Has(string name) => links.Any(l => l.Name == name);
        if (n.Provider is not null)
        {
            await ProviderLinks.EnsureAsync(n, links, ct);
            return;
        }

        if (!namespaces.Contains(n.Namespace))
            await NetworkTools.RunAsync(IpCommands.CreateNamespace(n), ct: ct);
        if (!Has(n.Bridge))
            await NetworkTools.RunAsync(IpCommands.CreateBridge(n), ct: ct);
        if (!Has(n.GatewayPort))
            await NetworkTools.RunAsync(IpCommands.CreateGatewayLink(n), ct: ct);
        await NetworkTools.RunAllAsync(IpCommands.ConfigureGateway(n), ct);
        if (n.Nat)
        {
            if (!Has(n.TransitPort))
                await NetworkTools.RunAsync(IpCommands.CreateTransitLink(n), ct: ct);
            await NetworkTools.RunAllAsync(IpCommands.ConfigureTransit(n), ct);
        }
        else if (Has(n.TransitPort))
        {
            await NetworkTools.RunAsync(IpCommands.DeleteLink(n.TransitPort), ct: ct);
        }

        await NetworkTools.RunAsync(["ip", "netns", "exec", n.Namespace, "nft", "-f", "-"], Walls.NamespaceTable(n, network.Forwards), ct);
        await EnsureVxlanAsync(network, Has(n.Vxlan), ct);
        await dns.EnsureAsync(network, ct);
    }

    /// <summary>A VXLAN device while the network has peers, with exactly one FDB entry per peer.</summary>
    private async Task EnsureVxlanAsync(PlannedNetwork network, bool exists, CancellationToken ct)
    {
        var n = network.Layout;
        if (network.Peers.Count == 0)
        {
            if (exists)
                await NetworkTools.RunAsync(IpCommands.DeleteLink(n.Vxlan), ct: ct);
            return;
        }

        if (!exists)
            await NetworkTools.RunAsync(IpCommands.CreateVxlan(n, Local), ct: ct);
        await NetworkTools.RunAllAsync(IpCommands.ConfigureVxlan(n), ct);
        var present = LinkInventory.ParsePeers(await NetworkTools.RunAsync(IpCommands.ListFdb(n.Vxlan), ct: ct), VxlanEndpoint.DefaultPort);
        foreach (var peer in network.Peers.Except(present))
            await NetworkTools.RunAsync(IpCommands.AddPeer(n, peer), ct: ct);
        foreach (var peer in present.Except(network.Peers))
            await NetworkTools.RunAsync(IpCommands.RemovePeer(n.Vxlan, peer), ct: ct);
    }

    /// <summary>Everything under this agent's prefix that no planned network owns; taps stay (each is its QEMU's, and the walls drop a stray one).</summary>
    private async Task RemoveStaleAsync(NetworkPlan plan, IReadOnlyList<Link> links, HashSet<string> namespaces, CancellationToken ct)
    {
        var wanted = plan.Networks.Select(n => n.Layout.Vni).ToHashSet();
        foreach (var name in namespaces)
        {
            if (Names.VniOf(name, 's') is { } vni && !wanted.Contains(vni))
            {
                dns.Stop(vni);
                await NetworkTools.RunAsync(IpCommands.DeleteNamespace(name), ct: ct);
                log.LogInformation("Removed network {Vni} from this host", vni);
            }
        }

        foreach (var link in links)
        {
            if ("bgnxv".Any(kind => Names.VniOf(link.Name, kind) is { } vni && !wanted.Contains(vni)))
            {
                // A veth goes with its peer when the namespace goes: "not found" is fine.
                try
                {
                    await NetworkTools.RunAsync(IpCommands.DeleteLink(link.Name), ct: ct);
                }
                catch (NetworkCommandException) when (!File.Exists($"/sys/class/net/{link.Name}/ifindex"))
                {
                }
            }
        }

        dns.RemoveStale(wanted);
    }

    private async Task ApplyWallsAsync(NetworkPlan plan, CancellationToken ct)
    {
        var uplinks = LinkInventory.ParseUplinks(await NetworkTools.RunAsync(IpCommands.DefaultRoutes(), ct: ct))
            .Where(u => !u.StartsWith(Names.Prefix, StringComparison.Ordinal)).ToList();
        if (plan.Networks.Any(n => n.Layout.Nat))
            await NetworkTools.RunAllAsync(uplinks.Select(IpCommands.EnableForwarding), ct);
        var ruleset = plan.Networks.Count == 0 ? Walls.Remove(Names) : Walls.BridgeTable(plan) + Walls.HostTable(plan, uplinks);
        await NetworkTools.RunAsync(["nft", "-f", "-"], ruleset, ct);
    }

    public void Dispose()
    {
        _lock.Dispose();
        _listLock.Dispose();
    }

    /// <summary>
    /// Puts a NIC being hotplugged in every plan until its VM's spec names it: dispose the hold once
    /// the spec is kept (or the hotplug failed). A reconcile meanwhile (the portal's list arriving
    /// while QEMU takes the tap) would otherwise write the walls without its tap, and they would
    /// drop all it sends until the next reconcile.
    /// </summary>
    public IDisposable Joining(Guid vmId, NicSpec nic)
    {
        _joining[(vmId, nic.Id)] = nic;
        return new Hold(() => _joining.TryRemove((vmId, nic.Id), out _));
    }

    private readonly ConcurrentDictionary<(Guid VmId, string NicId), NicSpec> _joining = new();

    private sealed class Hold(Action release) : IDisposable
    {
        public void Dispose() => release();
    }

    /// <summary>The NICs of every VM created on this host, running or not (their networks stay while they are here), and those joining.</summary>
    private List<(Guid VmId, NicSpec Nic)> Nics()
    {
        List<(Guid VmId, NicSpec Nic)> nics = [.. vms.All.Where(v => v.Spec is not null).SelectMany(v => v.Spec!.Nics.Select(n => (v.Id, n)))];
        return [.. nics, .. _joining.Where(j => !nics.Any(n => n.VmId == j.Key.VmId && n.Nic.Id == j.Key.NicId)).Select(j => (j.Key.VmId, j.Value))];
    }

    private HashSet<string> ExistingNamespaces() =>
        Directory.Exists("/run/netns")
            ? Directory.EnumerateFileSystemEntries("/run/netns").Select(Path.GetFileName).OfType<string>().Where(n => n.StartsWith(Names.Prefix, StringComparison.Ordinal)).ToHashSet()
            : new HashSet<string>();
}
