using System.Globalization;
using System.Text;

namespace Paddock.Engine.Networks;

/// <summary>
/// The nftables rulesets, as text for one atomic <c>nft -f</c> each: a table is declared, deleted
/// and declared again in one transaction, so it is replaced whole or not at all and never doubled.
/// <list type="bullet">
/// <item>bridge family (<see cref="BridgeTable"/>): from a tap only its MAC and its address leave
/// (plus the DHCP request from 0.0.0.0 and ARP that tells its own pair); to a tap only frames for its
/// MAC or for a group; nothing of the local gateway crosses a VXLAN link; nothing from a port of
/// this agent is delivered to the host itself. A provider network's tap: only its MAC leaves (the
/// outside network gives its address), never a DHCP, DHCPv6 or router advertisement answer; its
/// bridge's outside port (the VLAN link or host interface) delivers nothing to the host either.</item>
/// <item>inet, root namespace (<see cref="HostTable"/>): no packet from a bridge or a transit link
/// reaches a host address; transit links forward only to and from the uplink, masqueraded; bridged
/// frames are not tracked (tenants may share addresses).</item>
/// <item>inet, a network's namespace (<see cref="NamespaceTable"/>): guests reach the gateway's DHCP,
/// DNS and ping only, and, with NAT, the way out.</item>
/// </list>
/// </summary>
public static partial class Walls
{
    public static string BridgeTable(NetworkPlan plan)
    {
        var names = plan.Names;
        var text = Begin("bridge", names.WallsTable);
        text.Line("\tchain forward {")
            .Line("\t\ttype filter hook forward priority 0; policy accept;")
            .Line($"\t\tiifname \"{names.Glob('t')}\" jump from_tap")
            .Line($"\t\toifname \"{names.Glob('t')}\" jump to_tap")
            // The gateway is each host's own: its frames, DHCP and ARP for it never cross hosts.
            .Line($"\t\tiifname \"{names.Glob('g')}\" oifname \"{names.Glob('x')}\" drop")
            .Line($"\t\tiifname \"{names.Glob('x')}\" oifname \"{names.Glob('g')}\" drop")
            .Line($"\t\toifname \"{names.Glob('x')}\" jump across")
            .Line($"\t\tiifname \"{names.Glob('x')}\" jump across")
            .Line("\t}")
            .Line("\tchain input {")
            .Line("\t\ttype filter hook input priority 0; policy accept;")
            .Line($"\t\tiifname \"{names.Glob('t')}\" drop")
            .Line($"\t\tiifname \"{names.Glob('g')}\" drop")
            .Line($"\t\tiifname \"{names.Glob('x')}\" drop")
            .Line($"\t\tiifname \"{names.Glob('v')}\" drop");
        foreach (var port in plan.Networks.Select(n => n.Layout).Where(l => l.Provider is { Vlan: null }).Select(l => l.ProviderPort))
            text.Line($"\t\tiifname \"{port}\" drop");
        text.Line("\t}")
            .Line("\tchain across {")
            .Line("\t\tudp dport { 67, 68 } drop");
        foreach (var network in plan.Networks.Where(n => n.Layout.Provider is null))
        {
            var gateway = Ipv4.Format(network.Layout.Gateway);
            text.Line($"\t\tiifname \"{network.Layout.Vxlan}\" arp daddr ip {gateway} drop")
                .Line($"\t\toifname \"{network.Layout.Vxlan}\" arp daddr ip {gateway} drop")
                .Line($"\t\tarp saddr ip {gateway} iifname \"{network.Layout.Vxlan}\" drop");
        }
        text.Line("\t}");
        AddTapChains(text, plan.Taps);
        return text.Line("}").ToString();
    }

    /// <summary>
    /// A chain per tap, jumped to by name; a tap of this agent's that no NIC here claims drops
    /// everything (a leftover, or one made behind the agent's back).
    /// </summary>
    private static void AddTapChains(StringBuilder text, IReadOnlyList<TapPort> taps)
    {
        text.Line("\tchain from_tap {");
        foreach (var tap in taps)
            text.Line($"\t\tiifname \"{tap.Name}\" jump from_{tap.Name}");
        text.Line("\t\tdrop").Line("\t}");
        text.Line("\tchain to_tap {");
        foreach (var tap in taps)
            text.Line($"\t\toifname \"{tap.Name}\" ether daddr != {tap.Mac} ether daddr & 01:00:00:00:00:00 == 00:00:00:00:00:00 drop");
        text.Line("\t}");
        foreach (var tap in taps)
        {
            if (tap.Address is not { } own)
            {
                AddProviderTapChain(text, tap);
                continue;
            }

            var address = Ipv4.Format(own);
            text.Line($"\tchain from_{tap.Name} {{")
                .Line($"\t\tether saddr != {tap.Mac} drop")
                .Line($"\t\tether type arp arp saddr ether {tap.Mac} arp saddr ip {address} accept")
                // A guest answers no DHCP: it would hand out addresses of its own.
                .Line("\t\tudp sport 67 drop")
                .Line("\t\tip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept")
                .Line($"\t\tether type ip ip saddr {address} accept")
                .Line("\t\tdrop")
                .Line("\t}");
        }
    }

    /// <summary>A provider network's tap: its own MAC, any address (the outside network's to give), and no server of addresses.</summary>
    private static void AddProviderTapChain(StringBuilder text, TapPort tap) =>
        text.Line($"\tchain from_{tap.Name} {{")
            .Line($"\t\tether saddr != {tap.Mac} drop")
            .Line($"\t\tarp saddr ether != {tap.Mac} drop")
            .Line("\t\tudp sport 67 drop")
            .Line("\t\tudp sport 547 drop")
            .Line("\t\ticmpv6 type nd-router-advert drop")
            .Line("\t\taccept")
            .Line("\t}");

    /// <param name="uplinks">The interfaces of the host's default routes: the only way out for NATed traffic.</param>
    public static string HostTable(NetworkPlan plan, IReadOnlyList<string> uplinks)
    {
        var names = plan.Names;
        var text = Begin("inet", names.HostTable);
        text.Line("\tchain prerouting {")
            .Line("\t\ttype filter hook prerouting priority raw; policy accept;")
            .Line($"\t\tiifname \"{names.Glob('b')}\" notrack")
            .Line("\t}")
            .Line("\tchain input {")
            .Line("\t\ttype filter hook input priority filter; policy accept;");
        var forwarded = plan.Networks.Any(n => n.Forwards.Count > 0);
        if (forwarded)
            AllowForwardReplies(text, names);
        foreach (var kind in "bgntxv")
            text.Line($"\t\tiifname \"{names.Glob(kind)}\" drop");
        text.Line("\t}")
            .Line("\tchain forward {")
            .Line("\t\ttype filter hook forward priority filter; policy accept;");
        if (forwarded)
            AllowForwarded(text, names);
        var outward = uplinks.Count == 0 ? null : "{ " + string.Join(", ", uplinks.Select(u => $"\"{CheckUplink(u)}\"")) + " }";
        if (outward is not null)
            text.Line($"\t\tiifname \"{names.Glob('n')}\" oifname {outward} accept");
        text.Line($"\t\tiifname \"{names.Glob('n')}\" drop")
            .Line($"\t\toifname \"{names.Glob('n')}\" ct state established,related accept")
            .Line($"\t\toifname \"{names.Glob('n')}\" drop")
            .Line("\t}")
            .Line("\tchain postrouting {")
            .Line("\t\ttype nat hook postrouting priority srcnat; policy accept;");
        if (outward is not null)
            text.Line($"\t\tiifname \"{names.Glob('n')}\" oifname {outward} masquerade");
        if (forwarded)
            SnatLoopback(text, plan);
        text.Line("\t}");
        if (forwarded)
            AddHostDnat(text, plan);
        return text.Line("}").ToString();
    }

    /// <summary>The namespace's own table: the gateway's services for guests, and with NAT the way out.</summary>
    public static string NamespaceTable(NetworkLayout network, IReadOnlyList<PortForward>? forwards = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        forwards ??= [];
        const string gw = NetworkNames.GatewayInside, up = NetworkNames.UplinkInside;
        var text = Begin("inet", NetworkNames.NamespaceTable);
        text.Line("\tchain input {")
            .Line("\t\ttype filter hook input priority filter; policy drop;")
            .Line("\t\tiifname \"lo\" accept")
            .Line("\t\tct state established,related accept")
            .Line($"\t\tiifname \"{gw}\" udp dport 67 accept")
            .Line($"\t\tiifname \"{gw}\" meta l4proto {{ tcp, udp }} th dport 53 accept")
            .Line($"\t\tiifname \"{gw}\" icmp type echo-request accept")
            .Line("\t}")
            .Line("\tchain forward {")
            .Line("\t\ttype filter hook forward priority filter; policy drop;");
        if (network.Nat)
        {
            text.Line($"\t\tiifname \"{gw}\" oifname \"{up}\" accept")
                .Line($"\t\tiifname \"{up}\" oifname \"{gw}\" ct state established,related accept");
            if (forwards.Count > 0)
                text.Line($"\t\tiifname \"{up}\" oifname \"{gw}\" ct status dnat accept");
        }
        text.Line("\t}");
        if (network.Nat && forwards.Count > 0)
            AddGuestDnat(text, network, forwards);
        if (network.Nat)
        {
            text.Line("\tchain postrouting {")
                .Line("\t\ttype nat hook postrouting priority srcnat; policy accept;")
                .Line($"\t\toifname \"{up}\" masquerade")
                .Line("\t}");
        }
        return text.Line("}").ToString();
    }

    /// <summary>No network left on this host: both root tables go (declared first, so a missing one is no error).</summary>
    public static string Remove(NetworkNames names) =>
        $"table bridge {names.WallsTable}\ndelete table bridge {names.WallsTable}\ntable inet {names.HostTable}\ndelete table inet {names.HostTable}\n";

    /// <summary>Declare, delete, declare again: one transaction replaces the table whole (nft's documented idiom).</summary>
    private static StringBuilder Begin(string family, string table) =>
        new StringBuilder()
            .Line($"table {family} {table}")
            .Line($"delete table {family} {table}")
            .Line($"table {family} {table} {{");

    private static string CheckUplink(string name) =>
        name.Length is > 0 and <= 15 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? name
            : throw new InvalidNetworkException("Uplink", $"'{Ipv4.Printable(name)}' is not an interface name");

    private static StringBuilder Line(this StringBuilder text, string line) =>
        text.Append(CultureInfo.InvariantCulture, $"{line}\n");
}
