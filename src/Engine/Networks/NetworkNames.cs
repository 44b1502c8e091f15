using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Paddock.Engine.Networks;

/// <summary>
/// What an agent calls its kernel objects. Every name starts with the agent's prefix (two lowercase
/// letters, so no agent's prefix begins another's; a second agent on the same machine takes another) and a letter for the kind,
/// so the agent finds its own after a restart and never touches anyone else's. Interface names
/// must fit IFNAMSIZ (15 characters): prefix (2) + kind (1) + a VNI in hex (6) or a tap's hash (8).
/// </summary>
public sealed partial class NetworkNames
{
    /// <summary>Inside a network's namespace: the gateway's side of the veth to the bridge, and the way out (NAT).</summary>
    public const string GatewayInside = "gw0";

    public const string UplinkInside = "up0";

    /// <summary>The nftables table inside each namespace (the namespace is the network's alone).</summary>
    public const string NamespaceTable = "paddock";

    public NetworkNames(string prefix)
    {
        if (prefix is null || !PrefixPattern().IsMatch(prefix))
            throw new InvalidNetworkException("NetworkPrefix", $"NetworkPrefix must be two lowercase letters such as 'pd' (was '{Ipv4.Printable(prefix)}')");
        Prefix = prefix;
    }

    public string Prefix { get; }

    /// <summary>The network's bridge, in the root namespace, without an address.</summary>
    public string Bridge(int vni) => Name('b', vni);

    /// <summary>The root end of the veth whose other end (<see cref="GatewayInside"/>) holds the gateway in the namespace.</summary>
    public string GatewayPort(int vni) => Name('g', vni);

    /// <summary>The root end of the NAT veth (the transit link) whose other end is <see cref="UplinkInside"/>.</summary>
    public string TransitPort(int vni) => Name('n', vni);

    public string Vxlan(int vni) => Name('x', vni);

    /// <summary>A provider network's 802.1Q link on its host interface, a port of the network's bridge.</summary>
    public string Vlan(int vni) => Name('v', vni);

    /// <summary>The network namespace that holds the gateway, dnsmasq and the NAT.</summary>
    public string Namespace(int vni) => Name('s', vni);

    /// <summary>A NIC's tap: a short hash of the VM and NIC ids, the same after every restart.</summary>
    public string Tap(Guid vmId, string nicId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{vmId:D}/{nicId}"));
        return $"{Prefix}t{Convert.ToHexStringLower(hash, 0, 4)}";
    }

    /// <summary>The bridge-family table (the walls between taps) and the root namespace's inet table (NAT and the host's guard).</summary>
    public string WallsTable => $"{Prefix}_walls";

    public string HostTable => $"{Prefix}_host";

    /// <summary>A glob that matches every interface of one kind of this agent (nft's <c>iifname "pdt*"</c>).</summary>
    public string Glob(char kind) => $"{Prefix}{kind}*";

    /// <summary>The VNI in one of this agent's names of <paramref name="kind"/>, or null when the name is not one.</summary>
    public int? VniOf(string name, char kind)
    {
        if (!name.StartsWith(Prefix, StringComparison.Ordinal) || name.Length < Prefix.Length + 2 || name[Prefix.Length] != kind)
            return null;
        var hex = name[(Prefix.Length + 1)..];
        if (hex.Length > 6 || !hex.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f'))
            return null;
        var vni = int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        // No leading zeros: exactly the name this agent would give.
        return vni > 0 && Name(kind, vni) == name ? vni : null;
    }

    private string Name(char kind, int vni) =>
        vni is < 1 or > NetworkChecks.MaxVni
            ? throw new InvalidNetworkException("Vni", $"Vni must be from 1 to {NetworkChecks.MaxVni} (was {vni})")
            : string.Create(CultureInfo.InvariantCulture, $"{Prefix}{kind}{vni:x}");

    [GeneratedRegex(@"^[a-z]{2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex PrefixPattern();
}
