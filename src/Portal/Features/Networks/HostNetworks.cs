using Paddock.Engine.Networks;

namespace Paddock.Portal.Features.Networks;

/// <summary>A NIC on a tenant network, with the hosts its VM is on now (two while it migrates).</summary>
public sealed record NetworkNic(Guid NetworkId, Guid VmId, string VmName, string Mac, string Address, IReadOnlyList<Guid> Hosts);

/// <summary>A port forward on the host its VM is placed on.</summary>
public sealed record HostForward(Guid NetworkId, Guid HostId, PortForward Forward);

/// <summary>What each host is to carry (<see cref="Engine.Contract.IHostAgent.ApplyNetworks"/>): a pure function of the networks, their NICs and the hosts' VXLAN endpoints.</summary>
public static class HostNetworks
{
    /// <summary>
    /// Every network that a VM on <paramref name="hostId"/> has a NIC on, with all of its NICs fleet-wide
    /// as members and the VXLAN endpoints of the other hosts that carry it as peers. In VNI order, so
    /// that the same state gives the same list. Each network with NAT carries the forwards placed on
    /// this host; one without NAT none (the host would refuse the whole list).
    /// </summary>
    public static IReadOnlyList<HostNetwork> For(
        Guid hostId, IReadOnlyDictionary<Guid, NetworkSpec> networks, IReadOnlyList<NetworkNic> nics, IReadOnlyDictionary<Guid, VxlanEndpoint> endpoints,
        IReadOnlyList<HostForward>? forwards = null)
    {
        forwards ??= [];
        var byNetwork = nics.Where(n => networks.ContainsKey(n.NetworkId)).GroupBy(n => n.NetworkId).ToDictionary(g => g.Key, g => g.ToList());
        return [.. byNetwork
            .Where(n => n.Value.Any(nic => nic.Hosts.Contains(hostId)))
            .Select(n => networks[n.Key])
            .OrderBy(n => n.Vni)
            // A provider network: no DHCP of ours to feed, no VXLAN (the outside network joins its hosts) and no NAT to forward through.
            .Select(network => network.Provider is not null
                ? new HostNetwork(network, [], [])
                : new HostNetwork(network, Members(byNetwork[network.Id]), Peers(hostId, byNetwork[network.Id], endpoints))
                {
                    Forwards = network.Nat
                        ? [.. forwards.Where(f => f.HostId == hostId && f.NetworkId == network.Id).Select(f => f.Forward)
                            .OrderBy(f => f.Protocol, StringComparer.Ordinal).ThenBy(f => f.HostPort)]
                        : [],
                })];
    }

    /// <summary>The hosts that carry a network: those its NICs' VMs are on.</summary>
    public static IReadOnlySet<Guid> Carriers(IEnumerable<NetworkNic> nics) => nics.SelectMany(n => n.Hosts).ToHashSet();

    /// <summary>Each NIC with its VM's name as a DNS label, unique in the network (a clash takes the VM's id-based name), in address order.</summary>
    public static IReadOnlyList<NetworkMember> Members(IEnumerable<NetworkNic> nics)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var members = new List<NetworkMember>();
        foreach (var nic in nics.OrderBy(n => Ipv4Cidr.ParseAddress(n.Address) ?? 0).ThenBy(n => n.Mac, StringComparer.Ordinal))
        {
            var name = NetworkRules.DnsLabel(nic.VmName, nic.VmId);
            name = taken.Contains(name) ? NetworkRules.Fallback(nic.VmId) : name;
            for (var n = 2; taken.Contains(name); n++)
            {
                name = $"{NetworkRules.Fallback(nic.VmId)}-{n}";
            }

            taken.Add(name);
            members.Add(new NetworkMember(name, nic.Mac, nic.Address));
        }

        return members;
    }

    private static IReadOnlyList<VxlanEndpoint> Peers(Guid hostId, IEnumerable<NetworkNic> nics, IReadOnlyDictionary<Guid, VxlanEndpoint> endpoints) =>
        [.. Carriers(nics).Where(h => h != hostId && endpoints.ContainsKey(h)).Select(h => endpoints[h]).Distinct()
            .OrderBy(e => e.Address, StringComparer.Ordinal).ThenBy(e => e.Port)];
}
