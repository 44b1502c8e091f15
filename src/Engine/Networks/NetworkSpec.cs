namespace Paddock.Engine.Networks;

/// <summary>
/// A tenant network as hosts carry it. <paramref name="Vni"/> (1 to 16,777,215) is unique across
/// the fleet: it is the network's VXLAN id and names its devices on every host, so two tenants may
/// use the same <paramref name="Cidr"/> (IPv4, such as <c>10.10.0.0/24</c>). <paramref name="Gateway"/>
/// is an address in it that each host carrying the network serves on its own (DHCP, DNS and, with
/// <paramref name="Nat"/>, the way out); the portal validated all of it, the agent checks it again.
/// </summary>
public sealed record NetworkSpec(Guid Id, int Vni, string Cidr, string Gateway, bool Nat)
{
    /// <summary>
    /// Set for a provider network: a bridge to a host interface (or a VLAN of it) instead of a
    /// tenant network's namespace, gateway, DHCP, NAT and VXLAN. The outside network gives the
    /// addresses, so <see cref="Cidr"/> and <see cref="Gateway"/> are empty for it and <see cref="Nat"/> is false.
    /// </summary>
    public ProviderLink? Provider { get; init; }
}

/// <summary>
/// Where a provider network meets the outside: a host interface every host carrying it has
/// (such as <c>eth1</c>), and optionally an 802.1Q tag (1 to 4094) the agent makes a VLAN link for.
/// </summary>
public sealed record ProviderLink(string Interface, int? Vlan);

/// <summary>
/// A NIC's place on a tenant network: the one address the portal gave it. DHCP hands that address
/// to the NIC's MAC and the walls let nothing else out of its tap. On a provider network the
/// address is empty: the outside network gives it, and the walls hold the NIC to its MAC.
/// </summary>
public sealed record NicNetwork(NetworkSpec Network, string Address);

/// <summary>One NIC on a network, wherever it runs: a DHCP reservation and a DNS name (the VM's name, a valid host label).</summary>
public sealed record NetworkMember(string Name, string Mac, string Address);

/// <summary>Where a host's VXLAN endpoint listens: an address other hosts reach it on, and a UDP port.</summary>
public sealed record VxlanEndpoint(string Address, int Port)
{
    public const int DefaultPort = 4789;
}

/// <summary>
/// A network a host is to carry: every member fleet-wide (for DNS and DHCP) and the other hosts that
/// carry it (VXLAN peers). The portal sends a host its whole list at registration and again whenever
/// a member or a peer changes (<see cref="Contract.IHostAgent.ApplyNetworks"/>).
/// </summary>
public sealed record HostNetwork(NetworkSpec Network, IReadOnlyList<NetworkMember> Members, IReadOnlyList<VxlanEndpoint> Peers)
{
    /// <summary>The port forwards of this network's NICs on VMs placed on this host (only on a network with NAT: the way in is its transit link).</summary>
    public IReadOnlyList<PortForward> Forwards { get; init; } = [];
}

/// <summary>
/// A port forward: what reaches this host on <paramref name="HostPort"/> (any of its addresses,
/// loopback included) over <paramref name="Protocol"/> (<c>tcp</c> or <c>udp</c>) goes to
/// <paramref name="Address"/>:<paramref name="GuestPort"/>, a member of the network.
/// </summary>
public sealed record PortForward(string Protocol, int HostPort, string Address, int GuestPort)
{
    public static readonly IReadOnlyList<string> Protocols = ["tcp", "udp"];
}
