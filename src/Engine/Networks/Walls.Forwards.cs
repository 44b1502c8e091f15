using System.Text;

namespace Paddock.Engine.Networks;

/// <summary>
/// Port forwards, in two hops: the root namespace DNATs a host port to the network's
/// <see cref="NetworkLayout.TransitNamespaceAddress"/> on the same port (prerouting for clients
/// elsewhere, output for the host's own), the namespace DNATs that to the guest. Only DNATed
/// connections cross a transit link inward (<c>ct status dnat</c>), and not from another transit
/// link: a guest gets no way into another network through the host's ports. Clients on loopback
/// work as Docker's do: <c>route_localnet</c> on the transit link, their source SNATed to the
/// transit router address (which no interface holds, so nothing else answers on it).
/// </summary>
public static partial class Walls
{
    /// <summary>The host's own client gets its replies; everything else from a transit link still goes.</summary>
    private static void AllowForwardReplies(StringBuilder text, NetworkNames names) =>
        text.Line($"\t\tiifname \"{names.Glob('n')}\" ct status dnat ct state established accept");

    private static void AllowForwarded(StringBuilder text, NetworkNames names)
    {
        var transit = names.Glob('n');
        text.Line($"\t\tiifname != \"{transit}\" oifname \"{transit}\" ct status dnat accept")
            .Line($"\t\tiifname \"{transit}\" oifname != \"{transit}\" ct status dnat ct state established accept");
    }

    private static void SnatLoopback(StringBuilder text, NetworkPlan plan)
    {
        foreach (var network in plan.Networks.Where(n => n.Forwards.Count > 0))
            text.Line($"\t\toifname \"{network.Layout.TransitPort}\" ip saddr 127.0.0.0/8 snat ip to {network.Layout.TransitRouter}");
    }

    /// <summary>Whatever is addressed to the host (any of its addresses) on a forwarded port goes to that network's namespace.</summary>
    private static void AddHostDnat(StringBuilder text, NetworkPlan plan)
    {
        text.Line("\tchain forwards_in {")
            .Line("\t\ttype nat hook prerouting priority dstnat; policy accept;")
            .Line("\t\tfib daddr type local jump forwards")
            .Line("\t}")
            // nft names no "dstnat" priority for output in the inet family: -100 is the same place.
            .Line("\tchain forwards_out {")
            .Line("\t\ttype nat hook output priority -100; policy accept;")
            .Line("\t\tfib daddr type local jump forwards")
            .Line("\t}")
            .Line("\tchain forwards {");
        foreach (var network in plan.Networks)
        {
            foreach (var forward in network.Forwards)
                text.Line($"\t\t{forward.Protocol} dport {forward.HostPort} dnat ip to {network.Layout.TransitNamespaceAddress}:{forward.HostPort}");
        }
        text.Line("\t}");
    }

    /// <summary>In the namespace: from the transit link, the host port to the guest's address and port.</summary>
    private static void AddGuestDnat(StringBuilder text, NetworkLayout network, IReadOnlyList<PortForward> forwards)
    {
        text.Line("\tchain forwards {")
            .Line("\t\ttype nat hook prerouting priority dstnat; policy accept;");
        foreach (var forward in forwards)
        {
            text.Line($"\t\tiifname \"{NetworkNames.UplinkInside}\" ip daddr {network.TransitNamespaceAddress} {forward.Protocol} dport {forward.HostPort} " +
                $"dnat ip to {forward.Address}:{forward.GuestPort}");
        }
        text.Line("\t}");
    }
}
