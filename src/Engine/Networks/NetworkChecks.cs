using System.Text.RegularExpressions;

namespace Paddock.Engine.Networks;

/// <summary>
/// The agent checks again what the portal validated, before any of it reaches a command line or a
/// configuration file: every value is refused with <see cref="InvalidNetworkException"/> naming it.
/// </summary>
public static partial class NetworkChecks
{
    public const int MaxVni = 0xFFFFFF;

    /// <summary>The network's VNI, CIDR and gateway (an address of the CIDR, neither its first nor its last).</summary>
    public static (Ipv4Cidr Cidr, uint Gateway) Check(NetworkSpec network)
    {
        ArgumentNullException.ThrowIfNull(network);
        if (network.Vni is < 1 or > MaxVni)
            throw new InvalidNetworkException("Vni", $"Vni must be from 1 to {MaxVni} (was {network.Vni})");
        var cidr = Ipv4Cidr.Parse(network.Cidr, "Cidr");
        var gateway = HostAddress(network.Gateway, cidr, "Gateway");
        return (cidr, gateway);
    }

    /// <summary>
    /// A provider network: a host interface name as the kernel takes it (1 to 15 characters, no '/'
    /// or whitespace), narrowed to letters, digits, '-', '_' and '.' (no '-' first) since it reaches
    /// <c>ip</c> and nft; never one under this agent's prefix (its own devices); a VLAN from 1 to 4094; no NAT.
    /// </summary>
    public static ProviderLink Check(ProviderLink provider, NetworkSpec network, NetworkNames names)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if (network.Vni is < 1 or > MaxVni)
            throw new InvalidNetworkException("Vni", $"Vni must be from 1 to {MaxVni} (was {network.Vni})");
        var name = provider.Interface;
        if (InterfaceProblem(name) is { } problem)
            throw new InvalidNetworkException("Interface", $"{problem} (was '{Ipv4.Printable(name)}')");
        if (name.StartsWith(names.Prefix, StringComparison.Ordinal))
            throw new InvalidNetworkException("Interface", $"Interface '{name}' is one of this agent's own devices (prefix '{names.Prefix}')");
        if (provider.Vlan is < 1 or > 4094)
            throw new InvalidNetworkException("Vlan", $"Vlan must be from 1 to 4094 (was {provider.Vlan})");
        if (network.Nat)
            throw new InvalidNetworkException("Nat", "A provider network has no NAT: the outside network routes it");
        return provider;
    }

    /// <summary>Null when <paramref name="name"/> is a host interface name this code passes to <c>ip</c> and nft; otherwise why not (the portal says it next to the field).</summary>
    public static string? InterfaceProblem(string? name) =>
        name is not null && InterfacePattern().IsMatch(name) && name is not ("." or "..")
            ? null
            : "Interface must be a host interface name such as eth1: 1 to 15 letters, digits, '-', '_' or '.', not starting with '-'";

    /// <summary>A NIC's address: a host address of its network other than the gateway (none on a provider network).</summary>
    public static uint? Check(NicNetwork nic, string field = "Address")
    {
        ArgumentNullException.ThrowIfNull(nic);
        if (nic.Network.Provider is not null)
        {
            return string.IsNullOrEmpty(nic.Address)
                ? null
                : throw new InvalidNetworkException(field, $"{field} must be empty on a provider network: the outside network gives the address");
        }
        var (cidr, gateway) = Check(nic.Network);
        return MemberAddress(nic.Address, cidr, gateway, field);
    }

    /// <summary>A member: a DNS label for a name, a unicast MAC, an address of the network other than the gateway.</summary>
    public static void Check(NetworkMember member, Ipv4Cidr cidr, uint gateway, string field)
    {
        ArgumentNullException.ThrowIfNull(member);
        if (member.Name is null || !LabelPattern().IsMatch(member.Name))
        {
            throw new InvalidNetworkException($"{field}.Name",
                $"{field}.Name must be a DNS label: letters, digits and '-', 1 to 63, no '-' at either end (was '{Ipv4.Printable(member.Name)}')");
        }
        CheckMac(member.Mac, $"{field}.Mac");
        MemberAddress(member.Address, cidr, gateway, $"{field}.Address");
    }

    /// <summary>Six hex octets with ':', unicast and not all zero.</summary>
    public static void CheckMac(string? mac, string field)
    {
        if (mac is null || !MacPattern().IsMatch(mac) || (Convert.ToByte(mac[..2], 16) & 1) != 0 || mac == "00:00:00:00:00:00")
            throw new InvalidNetworkException(field, $"{field} must be a unicast MAC address such as 52:54:00:12:34:56 (was '{Ipv4.Printable(mac)}')");
    }

    /// <summary>A VXLAN endpoint: an IPv4 address and a UDP port.</summary>
    public static uint Check(VxlanEndpoint endpoint, string field)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var address = Ipv4.Parse(endpoint.Address, $"{field}.Address");
        CheckPort(endpoint.Port, $"{field}.Port");
        return address;
    }

    /// <summary>A forward: a protocol nft knows by that name, two ports, and the address of one of <paramref name="members"/>.</summary>
    public static uint Check(PortForward forward, IReadOnlyList<NetworkMember> members, Ipv4Cidr cidr, uint gateway, string field)
    {
        ArgumentNullException.ThrowIfNull(forward);
        if (forward.Protocol is null || !PortForward.Protocols.Contains(forward.Protocol))
            throw new InvalidNetworkException($"{field}.Protocol", $"{field}.Protocol must be tcp or udp (was '{Ipv4.Printable(forward.Protocol)}')");
        CheckPort(forward.HostPort, $"{field}.HostPort");
        CheckPort(forward.GuestPort, $"{field}.GuestPort");
        var address = MemberAddress(forward.Address, cidr, gateway, $"{field}.Address");
        if (!members.Any(m => m.Address == Ipv4.Format(address)))
            throw new InvalidNetworkException($"{field}.Address", $"{field}.Address {Ipv4.Format(address)} is no member's address");
        return address;
    }

    private static void CheckPort(int port, string field)
    {
        if (port is < 1 or > 65535)
            throw new InvalidNetworkException(field, $"{field} must be from 1 to 65535 (was {port})");
    }

    private static uint MemberAddress(string? text, Ipv4Cidr cidr, uint gateway, string field)
    {
        var address = HostAddress(text, cidr, field);
        if (address == gateway)
            throw new InvalidNetworkException(field, $"{field} {Ipv4.Format(address)} is the network's gateway");
        return address;
    }

    private static uint HostAddress(string? text, Ipv4Cidr cidr, string field)
    {
        var address = Ipv4.Parse(text, field);
        if (!cidr.Contains(address) || address == cidr.Network || address == cidr.Broadcast)
            throw new InvalidNetworkException(field, $"{field} {Ipv4.Format(address)} is not a host address of {cidr}");
        return address;
    }

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex LabelPattern();

    [GeneratedRegex(@"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\z", RegexOptions.CultureInvariant)]
    private static partial Regex MacPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}\z", RegexOptions.CultureInvariant)]
    private static partial Regex InterfacePattern();
}
