using System.Globalization;

namespace Paddock.Engine.Networks;

/// <summary>
/// The <c>ip</c>, <c>bridge</c> and <c>sysctl</c> argv that lay a network out on a host, as pure
/// functions of its <see cref="NetworkLayout"/>. Every value in them was checked when the layout was
/// made; they are argument vectors, never shell strings. "Create" commands run only for what is
/// missing; "Configure" commands are idempotent (<c>replace</c>, <c>set</c>) and run on every
/// reconcile, so a half-made network left by a killed agent is finished by the next one.
/// </summary>
public static class IpCommands
{
    public static IReadOnlyList<string> CreateNamespace(NetworkLayout n) => ["ip", "netns", "add", n.Namespace];

    public static IReadOnlyList<string> CreateBridge(NetworkLayout n) => ["ip", "link", "add", n.Bridge, "type", "bridge"];

    /// <summary>The veth whose inside end carries the gateway; it is made straight into the namespace, so no name clashes in the root.</summary>
    public static IReadOnlyList<string> CreateGatewayLink(NetworkLayout n) =>
        ["ip", "link", "add", n.GatewayPort, "type", "veth", "peer", "name", NetworkNames.GatewayInside, "netns", n.Namespace];

    public static IReadOnlyList<string> CreateTransitLink(NetworkLayout n) =>
        ["ip", "link", "add", n.TransitPort, "type", "veth", "peer", "name", NetworkNames.UplinkInside, "netns", n.Namespace];

    /// <summary>One kernel VXLAN device per network: its VNI, this host's endpoint, no learning (peers come as static FDB entries).</summary>
    public static IReadOnlyList<string> CreateVxlan(NetworkLayout n, VxlanEndpoint local) =>
        ["ip", "link", "add", n.Vxlan, "type", "vxlan", "id", Number(n.Vni), "local", local.Address, "dstport", Number(local.Port), "nolearning"];

    /// <summary>
    /// Bridge up and silent; the gateway's veth in it; the gateway's address and anycast MAC inside
    /// the namespace. Every link in the root namespace comes up without an address of any kind
    /// (<see cref="NoAddresses"/>).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> ConfigureGateway(NetworkLayout n) =>
    [
        .. BridgeUp(n),
        NoAddresses(n.GatewayPort),
        ["ip", "link", "set", n.GatewayPort, "master", n.Bridge, "up"],
        ["ip", "-n", n.Namespace, "link", "set", "lo", "up"],
        ["ip", "-n", n.Namespace, "link", "set", NetworkNames.GatewayInside, "address", n.GatewayMac],
        ["ip", "-n", n.Namespace, "addr", "replace", n.GatewayWithPrefix, "dev", NetworkNames.GatewayInside],
        ["ip", "-n", n.Namespace, "link", "set", NetworkNames.GatewayInside, "up"],
    ];

    /// <summary>
    /// The transit link, unnumbered on the root's side: the namespace's end holds its address and a
    /// default route to a next hop that exists only as a fixed neighbour entry (the root end's MAC);
    /// the root reaches the namespace's address by a /32 route and a fixed neighbour entry. So the
    /// root namespace gains no address, and nothing on the host sees its addresses change when a
    /// network comes or goes (a browser on the host aborts its requests when they do).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> ConfigureTransit(NetworkLayout n) =>
    [
        ["ip", "link", "set", n.TransitPort, "address", n.TransitOutsideMac],
        NoAddresses(n.TransitPort),
        // An address an earlier agent gave it goes.
        ["ip", "addr", "flush", "dev", n.TransitPort],
        ["ip", "link", "set", n.TransitPort, "up"],
        ["ip", "route", "replace", $"{n.TransitNamespaceAddress}/32", "dev", n.TransitPort],
        ["ip", "neigh", "replace", n.TransitNamespaceAddress, "lladdr", n.TransitInsideMac, "dev", n.TransitPort, "nud", "permanent"],
        ["ip", "-n", n.Namespace, "link", "set", NetworkNames.UplinkInside, "address", n.TransitInsideMac],
        ["ip", "-n", n.Namespace, "addr", "replace", n.TransitInside, "dev", NetworkNames.UplinkInside],
        ["ip", "-n", n.Namespace, "link", "set", NetworkNames.UplinkInside, "up"],
        ["ip", "-n", n.Namespace, "neigh", "replace", n.TransitRouter, "lladdr", n.TransitOutsideMac, "dev", NetworkNames.UplinkInside, "nud", "permanent"],
        ["ip", "-n", n.Namespace, "route", "replace", "default", "via", n.TransitRouter, "dev", NetworkNames.UplinkInside, "onlink"],
        ["ip", "netns", "exec", n.Namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        // IPv4 forwards by the incoming interface's setting: the transit port out, the uplink back in.
        ["sysctl", "-qw", $"net.ipv4.conf.{n.TransitPort}.forwarding=1"],
        // A port forward's client on loopback leaves (SNATed) through this link: see Walls.Forwards.
        ["sysctl", "-qw", $"net.ipv4.conf.{n.TransitPort}.route_localnet=1"],
    ];

    /// <summary>A network's bridge up and silent: no STP (a bridge of taps has no loops), no forwarding delay (a port forwards at once), no address.</summary>
    private static IReadOnlyList<IReadOnlyList<string>> BridgeUp(NetworkLayout n) =>
    [
        ["ip", "link", "set", n.Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"],
        NoAddresses(n.Bridge),
        ["ip", "link", "set", n.Bridge, "up"],
    ];

    /// <summary>
    /// A root-namespace link of a network makes no IPv6 link-local address when it comes up (set
    /// before "up"): the host has no address on a tenant's wire, and its own address list stays as it was.
    /// </summary>
    public static IReadOnlyList<string> NoAddresses(string link) => ["ip", "link", "set", CheckedName(link), "addrgenmode", "none"];

    /// <summary>Forwarding on the host's uplink, so that answers to NATed traffic come back in.</summary>
    public static IReadOnlyList<string> EnableForwarding(string uplink) =>
        ["sysctl", "-qw", $"net.ipv4.conf.{CheckedName(uplink)}.forwarding=1"];

    public static IReadOnlyList<IReadOnlyList<string>> ConfigureVxlan(NetworkLayout n) =>
        [NoAddresses(n.Vxlan), ["ip", "link", "set", n.Vxlan, "master", n.Bridge, "up"]];

    /// <summary>A provider network's 802.1Q link on its host interface (only with a tag).</summary>
    public static IReadOnlyList<string> CreateVlan(NetworkLayout n) =>
        ["ip", "link", "add", n.Vlan, "link", n.Provider!.Interface, "type", "vlan", "id", Number(n.Provider.Vlan!.Value)];

    /// <summary>
    /// A provider network's bridge, up and silent like a tenant's, with its one port toward the
    /// outside: the host interface (which the agent brings up) or the VLAN link on it.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> ConfigureProvider(NetworkLayout n)
    {
        var provider = n.Provider ?? throw new InvalidNetworkException("Provider", $"Network {n.Vni} is no provider network");
        List<IReadOnlyList<string>> commands = [.. BridgeUp(n), ["ip", "link", "set", CheckedName(provider.Interface), "up"]];
        if (provider.Vlan is not null)
            commands.Add(NoAddresses(n.Vlan));
        commands.Add(["ip", "link", "set", CheckedName(n.ProviderPort!), "master", n.Bridge, "up"]);
        return commands;
    }

    /// <summary>The addresses an interface holds (JSON): a provider network refuses to take one that has any.</summary>
    public static IReadOnlyList<string> ListAddresses(string link) => ["ip", "-j", "addr", "show", "dev", CheckedName(link)];

    /// <summary>A peer: broadcast and unknown unicast go to it (the all-zero FDB entry), one entry per peer.</summary>
    public static IReadOnlyList<string> AddPeer(NetworkLayout n, VxlanEndpoint peer) =>
        ["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", n.Vxlan, "dst", peer.Address, "port", Number(peer.Port)];

    public static IReadOnlyList<string> RemovePeer(string vxlan, VxlanEndpoint peer) =>
        ["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", CheckedName(vxlan), "dst", peer.Address, "port", Number(peer.Port)];

    /// <summary>A tap into its network's bridge, up.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> AttachTap(string tap, NetworkLayout n) =>
        [NoAddresses(tap), ["ip", "link", "set", CheckedName(tap), "master", n.Bridge, "up"]];

    public static IReadOnlyList<string> DeleteLink(string name) => ["ip", "link", "del", CheckedName(name)];

    public static IReadOnlyList<string> DeleteNamespace(string name) => ["ip", "netns", "del", CheckedName(name)];

    /// <summary>What exists: every link (JSON), the VXLAN FDB (JSON) and the host's default routes (JSON).</summary>
    public static IReadOnlyList<string> ListLinks() => ["ip", "-j", "-d", "link", "show"];

    public static IReadOnlyList<string> ListFdb(string vxlan) => ["bridge", "-j", "fdb", "show", "dev", CheckedName(vxlan)];

    public static IReadOnlyList<string> DefaultRoutes() => ["ip", "-j", "-4", "route", "show", "default"];

    /// <summary>A name read back from the kernel goes into an argv only when it is a plain interface name.</summary>
    private static string CheckedName(string name) =>
        name.Length is > 0 and <= 15 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '-'
            ? name
            : throw new InvalidNetworkException("Interface", $"'{Ipv4.Printable(name)}' is not an interface name this agent would use");

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
