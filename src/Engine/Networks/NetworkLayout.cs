using System.Globalization;

namespace Paddock.Engine.Networks;

/// <summary>
/// One tenant network as one host lays it out: a bridge without an address (pure L2, so two tenants
/// may share a CIDR and no guest reaches the host through it), a namespace of its own holding the
/// gateway (and dnsmasq, and the NAT), a veth between them, and with NAT a transit veth to the root
/// namespace. Checked on construction (<see cref="InvalidNetworkException"/>).
/// A provider network (<see cref="Provider"/>) is only the bridge with the host interface, or a VLAN
/// link of it (<see cref="Vlan"/>), as a port: no namespace, gateway, DHCP, NAT or VXLAN; its
/// <see cref="Cidr"/> and <see cref="Gateway"/> are zero.
/// </summary>
public sealed record NetworkLayout
{
    /// <summary>Transit links come from the shared address space (RFC 6598), a /30 per network: 2^20 of them.</summary>
    public static readonly Ipv4Cidr TransitSpace = new(0x64400000, 10);

    private NetworkLayout(NetworkSpec spec, Ipv4Cidr cidr, uint gateway, NetworkNames names)
    {
        Spec = spec;
        Cidr = cidr;
        Gateway = gateway;
        Names = names;
    }

    public static NetworkLayout Of(NetworkSpec spec, NetworkNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Provider is { } provider)
            return new NetworkLayout(spec, default, 0, names) { Provider = NetworkChecks.Check(provider, spec, names) };
        var (cidr, gateway) = NetworkChecks.Check(spec);
        var layout = new NetworkLayout(spec, cidr, gateway, names);
        if (spec.Nat && layout.Transit.Overlaps(cidr))
            throw new InvalidNetworkException("Cidr", $"Cidr {cidr} holds this network's NAT transit link {layout.Transit}: choose another range");
        return layout;
    }

    public NetworkSpec Spec { get; }

    public Ipv4Cidr Cidr { get; }

    public uint Gateway { get; }

    public NetworkNames Names { get; }

    public ProviderLink? Provider { get; private init; }

    /// <summary>A provider network's VLAN link (made on its host interface), when it has a tag.</summary>
    public string Vlan => Names.Vlan(Vni);

    /// <summary>What a provider network's bridge enslaves: the VLAN link, or the host interface itself.</summary>
    public string? ProviderPort => Provider is null ? null : Provider.Vlan is null ? Provider.Interface : Vlan;

    public int Vni => Spec.Vni;

    public bool Nat => Spec.Nat;

    public string Bridge => Names.Bridge(Vni);

    public string GatewayPort => Names.GatewayPort(Vni);

    public string TransitPort => Names.TransitPort(Vni);

    public string Vxlan => Names.Vxlan(Vni);

    public string Namespace => Names.Namespace(Vni);

    /// <summary>The gateway with its prefix length, as <c>ip addr</c> takes it.</summary>
    public string GatewayWithPrefix => string.Create(CultureInfo.InvariantCulture, $"{Ipv4.Format(Gateway)}/{Cidr.PrefixLength}");

    /// <summary>
    /// The gateway's MAC, the same on every host that carries the network (an anycast gateway, as
    /// EVPN fabrics have): a guest that moves keeps its ARP entry. Locally administered, from the VNI.
    /// </summary>
    public string GatewayMac => MacOf(0x00, 0x01);

    /// <summary>
    /// The NAT transit /30: the VNI's low 20 bits pick it, so it is the same after a restart and two
    /// networks on one host collide only when their VNIs are 2^20 apart (refused then, see
    /// <see cref="NetworkPlan"/>). Link-local space was too small (16,384 /30s, and 169.254.169.254 in it).
    /// </summary>
    public Ipv4Cidr Transit => new(TransitSpace.Network + ((uint)Vni & 0xFFFFF) * 4, 30);

    /// <summary>The namespace's end of the transit link, with its prefix: the address its NAT gives the guests' traffic.</summary>
    public string TransitInside => string.Create(CultureInfo.InvariantCulture, $"{TransitNamespaceAddress}/30");

    public string TransitNamespaceAddress => Ipv4.Format(Transit.Network + 2);

    /// <summary>The namespace's next hop out: no interface holds it (the root's end is unnumbered), a fixed neighbour entry names the root end's MAC.</summary>
    public string TransitRouter => Ipv4.Format(Transit.Network + 1);

    /// <summary>The root end's MAC and the namespace end's, fixed (from the VNI) so that each side's neighbour entry for the other holds.</summary>
    public string TransitOutsideMac => MacOf(0x01, 0x01);

    public string TransitInsideMac => MacOf(0x01, 0x02);

    private string MacOf(int kind, int end) => string.Create(CultureInfo.InvariantCulture,
        $"02:{kind:x2}:{(Vni >> 16) & 255:x2}:{(Vni >> 8) & 255:x2}:{Vni & 255:x2}:{end:x2}");
}
