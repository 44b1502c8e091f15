namespace Paddock.Engine.Networks;

/// <summary>A NIC of a VM on this host, as the walls and dnsmasq see it: its tap, its MAC and its one address (none on a provider network).</summary>
public sealed record TapPort(string Name, int Vni, string Mac, uint? Address);

/// <summary>A network this host carries: its layout, who may have an address on it, and the other hosts that carry it.</summary>
public sealed record PlannedNetwork(NetworkLayout Layout, IReadOnlyList<NetworkMember> Members, IReadOnlyList<VxlanEndpoint> Peers)
{
    /// <summary>What reaches the guests from this host's ports; none without NAT.</summary>
    public IReadOnlyList<PortForward> Forwards { get; init; } = [];
}

/// <summary>
/// Everything this host's networking should be: the networks the portal listed plus those a NIC
/// here still uses (a network stays while a VM here needs it, even when the list no longer names
/// it), and every tap. Pure: the agent makes the kernel match it.
/// </summary>
public sealed record NetworkPlan(NetworkNames Names, VxlanEndpoint Local, IReadOnlyList<PlannedNetwork> Networks, IReadOnlyList<TapPort> Taps)
{
    /// <summary>
    /// Provider networks this host refuses, by VNI, with the reason (an interface name it would not
    /// pass on, one of its own devices): left out of the plan, so one admin's mistake keeps only that
    /// network (and the VMs on it) off this host instead of every network.
    /// </summary>
    public IReadOnlyDictionary<int, string> Refused { get; init; } = new Dictionary<int, string>();

    /// <summary>
    /// Merges the portal's list with the NICs of the VMs here. A NIC whose network the list lacks
    /// brings the network from its own <see cref="NicNetwork"/> (members come later); every NIC
    /// here gets a DHCP reservation even before the portal lists it as a member.
    /// </summary>
    /// <exception cref="InvalidNetworkException">A value is malformed, or two networks cannot share this host.</exception>
    public static NetworkPlan Create(NetworkNames names, VxlanEndpoint local, IReadOnlyList<HostNetwork> listed, IReadOnlyList<(Guid VmId, Vms.NicSpec Nic)> nics)
    {
        ArgumentNullException.ThrowIfNull(listed);
        ArgumentNullException.ThrowIfNull(nics);
        NetworkChecks.Check(local, "Vxlan");
        var networks = new Dictionary<int, (NetworkLayout Layout, List<NetworkMember> Members, IReadOnlyList<VxlanEndpoint> Peers)>();
        var forwards = new Dictionary<int, IReadOnlyList<PortForward>>();
        var refused = new Dictionary<int, string>();
        for (var i = 0; i < listed.Count; i++)
        {
            var entry = listed[i] ?? throw new InvalidNetworkException($"Networks[{i}]", $"Networks[{i}] must not be null");
            if (LayoutOf(entry.Network, names, refused) is not { } layout)
                continue;
            if (networks.ContainsKey(layout.Vni))
                throw new InvalidNetworkException($"Networks[{i}].Vni", $"Networks[{i}].Vni {layout.Vni} is listed twice");
            // A provider network has no members (no DHCP of ours) and no peers (no VXLAN): the outside network joins its hosts.
            networks[layout.Vni] = layout.Provider is null ? (layout, CheckMembers(entry, layout, i), CheckPeers(entry, local, i)) : (layout, [], []);
            forwards[layout.Vni] = entry.Forwards ?? throw new InvalidNetworkException($"Networks[{i}].Forwards", "Forwards must not be null");
        }

        var taps = new List<TapPort>();
        foreach (var (vmId, nic) in nics)
        {
            if (nic.Network is not { } on || (on.Network.Provider is not null && (refused.ContainsKey(on.Network.Vni) || LayoutOf(on.Network, names, refused) is null)))
                continue;
            var address = NetworkChecks.Check(on, $"Nics[{nic.Id}].Address");
            if (!networks.TryGetValue(on.Network.Vni, out var network))
                networks[on.Network.Vni] = network = (NetworkLayout.Of(on.Network, names), [], []);
            else if (network.Layout.Spec != on.Network && !listed.Any(l => l.Network.Vni == on.Network.Vni))
                throw new InvalidNetworkException("Vni", $"Two NICs here name network {on.Network.Vni} differently");
            else if ((network.Layout.Provider is null) != (on.Network.Provider is null))
                throw new InvalidNetworkException("Provider", $"A NIC here and the portal's list disagree on whether network {on.Network.Vni} is a provider network");
            taps.Add(new TapPort(names.Tap(vmId, nic.Id), on.Network.Vni, nic.Mac.ToLowerInvariant(), address));
            if (address is not null && !network.Members.Any(m => string.Equals(m.Mac, nic.Mac, StringComparison.OrdinalIgnoreCase)))
                network.Members.Add(new NetworkMember("", nic.Mac, on.Address));
        }

        CheckTransits([.. networks.Values.Select(n => n.Layout)]);
        CheckProviders([.. networks.Values.Select(n => n.Layout)]);
        var ports = new HashSet<(string, int)>();
        return new NetworkPlan(names, local,
            [.. networks.Values.OrderBy(n => n.Layout.Vni).Select(n => new PlannedNetwork(n.Layout, n.Members, n.Peers)
            {
                Forwards = CheckForwards(n.Layout, n.Members, forwards.GetValueOrDefault(n.Layout.Vni, []), ports),
            })],
            [.. taps.OrderBy(t => t.Name, StringComparer.Ordinal)]) { Refused = refused };
    }

    /// <summary>The layout; for a provider network this host refuses, null and the reason in <paramref name="refused"/>.</summary>
    private static NetworkLayout? LayoutOf(NetworkSpec network, NetworkNames names, Dictionary<int, string> refused)
    {
        if (network?.Provider is null)
            return NetworkLayout.Of(network!, names);
        try
        {
            return NetworkLayout.Of(network, names);
        }
        catch (InvalidNetworkException e) when (network.Vni is >= 1 and <= NetworkChecks.MaxVni)
        {
            refused[network.Vni] = $"Provider network {network.Vni}: {e.Message}";
            return null;
        }
    }

    private static List<NetworkMember> CheckMembers(HostNetwork entry, NetworkLayout layout, int index)
    {
        var members = entry.Members ?? throw new InvalidNetworkException($"Networks[{index}].Members", "Members must not be null");
        var macs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var addresses = new HashSet<string>(StringComparer.Ordinal);
        for (var m = 0; m < members.Count; m++)
        {
            var field = $"Networks[{index}].Members[{m}]";
            NetworkChecks.Check(members[m] ?? throw new InvalidNetworkException(field, $"{field} must not be null"), layout.Cidr, layout.Gateway, field);
            if (!macs.Add(members[m].Mac) || !addresses.Add(members[m].Address))
                throw new InvalidNetworkException(field, $"{field} shares its MAC or address with another member");
        }
        return [.. members];
    }

    /// <summary>
    /// Forwards only on a network with NAT (the way in is its transit link: an isolated network must
    /// never be reachable from a host port), each to a member, no host port taken twice on this host.
    /// </summary>
    private static IReadOnlyList<PortForward> CheckForwards(NetworkLayout layout, List<NetworkMember> members, IReadOnlyList<PortForward> forwards, HashSet<(string, int)> ports)
    {
        for (var f = 0; f < forwards.Count; f++)
        {
            var field = $"Networks[{layout.Vni}].Forwards[{f}]";
            var forward = forwards[f] ?? throw new InvalidNetworkException(field, $"{field} must not be null");
            if (!layout.Nat)
                throw new InvalidNetworkException(field, $"{field}: network {layout.Vni} has no NAT, so nothing may be forwarded to it");
            NetworkChecks.Check(forward, members, layout.Cidr, layout.Gateway, field);
            if (!ports.Add((forward.Protocol, forward.HostPort)))
                throw new InvalidNetworkException($"{field}.HostPort", $"{field}.HostPort {forward.Protocol} {forward.HostPort} is forwarded twice on this host");
        }
        return [.. forwards];
    }

    private static IReadOnlyList<VxlanEndpoint> CheckPeers(HostNetwork entry, VxlanEndpoint local, int index)
    {
        var peers = entry.Peers ?? throw new InvalidNetworkException($"Networks[{index}].Peers", "Peers must not be null");
        for (var p = 0; p < peers.Count; p++)
            NetworkChecks.Check(peers[p] ?? throw new InvalidNetworkException($"Networks[{index}].Peers[{p}]", "a peer must not be null"), $"Networks[{index}].Peers[{p}]");
        // This host is no peer of its own.
        return [.. peers.Where(p => p != local).Distinct()];
    }

    /// <summary>One bridge per host interface and tag: two networks on the same wire would be one network.</summary>
    private static void CheckProviders(IReadOnlyList<NetworkLayout> layouts)
    {
        var clash = layouts.Where(l => l.Provider is not null).GroupBy(l => l.Provider).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
        {
            throw new InvalidNetworkException("Provider",
                $"Networks {string.Join(" and ", clash.Select(l => l.Vni))} both name interface {clash.Key!.Interface}{(clash.Key.Vlan is { } tag ? $" VLAN {tag}" : "")}");
        }
    }

    private static void CheckTransits(IReadOnlyList<NetworkLayout> layouts)
    {
        var clash = layouts.Where(l => l.Nat).GroupBy(l => l.Transit).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
        {
            throw new InvalidNetworkException("Vni",
                $"Networks {string.Join(" and ", clash.Select(l => l.Vni))} would share the NAT transit link {clash.Key} on this host (VNIs 2^20 apart)");
        }
    }
}
