using Paddock.Engine.Networks;

namespace Paddock.Portal.Features.Networks;

/// <summary>What makes a provider network well formed, as pure checks: each returns null or why not, in words for the field.</summary>
public static class ProviderRules
{
    public const string FromProvider = "from the provider network";

    /// <summary>The host interface: a name <c>ip</c> and nft take as it is (the agent checks it again, and that it is none of its own).</summary>
    public static string? InterfaceProblem(string? name) =>
        NetworkChecks.InterfaceProblem(name?.Trim()) is null ? null : "Host interface: a name such as eth1 or bond0: 1 to 15 letters, digits, '-', '_' or '.', not starting with '-'.";

    public static string? VlanProblem(int? vlan) => vlan is null or (>= 1 and <= 4094) ? null : "VLAN: a tag from 1 to 4094, or none.";

    /// <summary>The outside's range and gateway, shown to users as information: optional, but well formed when given.</summary>
    public static (string? Field, string? Problem) InformationProblem(string? cidr, string? gateway)
    {
        Ipv4Cidr? range = null;
        if (!string.IsNullOrWhiteSpace(cidr))
        {
            range = Ipv4Cidr.Parse(cidr.Trim());
            if (range is not { } r || r.Network != (r.Network & r.Mask))
                return ("cidr", "CIDR: an IPv4 network such as 192.168.10.0/24, or none.");
        }

        if (string.IsNullOrWhiteSpace(gateway))
            return (null, null);
        return Ipv4Cidr.ParseAddress(gateway.Trim()) is { } address && range is { } inRange && inRange.Contains(address)
            ? (null, null)
            : ("gateway", "Gateway: an address of the CIDR above, or none.");
    }

    /// <summary>Who it is offered to: everyone, or at least one group.</summary>
    public static string? OfferProblem(ProviderOffer offer) =>
        offer.Everyone || offer.Groups.Count > 0 ? null : "Offered to: everyone, or at least one group.";

    /// <summary>What a NIC on <paramref name="network"/> shows as its address: its own, or that the provider network gives it.</summary>
    public static string? ShownAddress(NicNetwork? network) => network?.Network.Provider is not null ? FromProvider : network?.Address;

    /// <summary>"eth1" or "eth1 VLAN 42".</summary>
    public static string Describe(ProviderLink link) => link.Vlan is { } tag ? $"{link.Interface} VLAN {tag}" : link.Interface;
}
