using System.Collections.Concurrent;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.SignalR;
using Paddock.Engine.Contract;
using Paddock.Engine.Networks;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Networks;

/// <summary>
/// Tells each host connected to this portal process which networks to carry
/// (<see cref="IHostAgent.ApplyNetworks"/>, the whole list): when it registers, and again whenever
/// its list changes, because a VM came, went, moved or changed its NICs (<see cref="VmChanged"/>), a
/// network was edited, or another host's VXLAN endpoint changed. A list is sent only when it differs
/// from the last one sent to that host; what another portal process changed is seen within
/// <see cref="Keeper.MaxSleep"/>.
/// </summary>
public sealed class NetworkPusher(
    IDocumentStore store,
    INetworkVms vms,
    ForwardService forwards,
    HostConnections connections,
    IHubContext<HostAgentHub, IHostAgent> hub,
    ChangeNotifier<VmChanged> vmChanges,
    ChangeNotifier<NetworksChanged> networkChanges,
    ChangeNotifier<HostsChanged> hostChanges,
    TimeProvider clock,
    ILogger<NetworkPusher> log) : Keeper(clock, log), IHostArrivals
{
    /// <summary>What was last sent to each host, serialized.</summary>
    private readonly ConcurrentDictionary<Guid, string> _sent = new();

    protected override string Work => "Sending hosts their networks";

    protected override IEnumerable<IDisposable> Follow(Func<Task> wake) =>
        [vmChanges.Subscribe(_ => wake()), networkChanges.Subscribe(_ => wake()), hostChanges.Subscribe(_ => wake())];

    public override async Task<TimeSpan> RunOnceAsync(CancellationToken ct)
    {
        var hosts = connections.Hosts;
        if (hosts.Count == 0)
        {
            return MaxSleep;
        }

        foreach (var (host, networks) in await DesiredAsync(hosts, ct))
        {
            var text = JsonSerializer.Serialize(networks);
            if ((_sent.TryGetValue(host, out var sent) && sent == text) || connections.ConnectionOf(host) is not { } connection)
            {
                continue;
            }

            await hub.Clients.Client(connection).ApplyNetworks(networks);
            _sent[host] = text;
            Log.LogInformation("Host {Host} carries {Count} networks now", host, networks.Count);
        }

        return MaxSleep;
    }

    public async Task ArrivedAsync(Guid hostId, IHostAgent agent, CancellationToken ct = default)
    {
        var networks = (await DesiredAsync([hostId], ct))[hostId];
        await agent.ApplyNetworks(networks);
        _sent[hostId] = JsonSerializer.Serialize(networks);
    }

    /// <summary>Each host's list, from every NIC on a network, where its VM runs and the hosts' endpoints.</summary>
    private async Task<Dictionary<Guid, IReadOnlyList<HostNetwork>>> DesiredAsync(IReadOnlyCollection<Guid> hosts, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var addresses = await session.Query<NicAddress>().ToListAsync(ct);
        var networks = (await session.LoadManyAsync<TenantNetwork>(ct, addresses.Select(a => a.NetworkId).Distinct()))
            .ToDictionary(n => n.Id, n => n.Spec);
        var where = (await vms.WhereaboutsAsync(session, [.. addresses.Select(a => a.VmId).Distinct()], ct)).ToDictionary(w => w.VmId);
        var nics = addresses.Where(a => where.ContainsKey(a.VmId))
            .Select(a => new NetworkNic(a.NetworkId, a.VmId, where[a.VmId].Name, a.Mac, a.Address, where[a.VmId].Hosts)).ToList();
        var endpoints = (await session.Query<HostRecord>().ToListAsync(ct)).Where(h => h.Vxlan is not null).ToDictionary(h => h.Id, h => h.Vxlan!);
        var placed = await ForwardsAsync(addresses, where, ct);
        return hosts.ToDictionary(h => h, h => HostNetworks.For(h, networks, nics, endpoints, placed));
    }

    /// <summary>
    /// Every forward with its NIC's address, on the host its VM is placed on; those of a VM that moved
    /// take a port on its new host first (<see cref="ForwardService.FollowAsync"/>), and its page hears of it.
    /// </summary>
    private async Task<IReadOnlyList<HostForward>> ForwardsAsync(
        IReadOnlyList<NicAddress> addresses, IReadOnlyDictionary<Guid, VmWhereabouts> where, CancellationToken ct)
    {
        var (all, moved) = await forwards.FollowAsync(where.ToDictionary(w => w.Key, w => w.Value.Hosts[0]), ct);
        foreach (var vm in moved)
        {
            vmChanges.Publish(vm);
        }

        var nics = addresses.ToDictionary(a => (a.VmId, a.NicId), a => a.Address);
        return [.. all
            .Where(f => nics.ContainsKey((f.VmId, f.NicId)))
            .Select(f => new HostForward(f.NetworkId, f.HostId, new PortForward(f.Protocol, f.HostPort, nics[(f.VmId, f.NicId)], f.GuestPort)))];
    }
}
