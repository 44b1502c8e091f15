using System.Globalization;

namespace Paddock.Portal.Features.Networks;

/// <summary>
/// An IPv4 network written as CIDR (<c>10.10.0.0/24</c>): parsing that takes only the plain form
/// (four decimal octets without leading zeros, so that nothing reads as octal), and the arithmetic the
/// portal needs (gateway, broadcast, overlap, the host addresses). A pure value.
/// </summary>
public readonly record struct Ipv4Cidr(uint Network, int Prefix)
{
    public uint Mask => Prefix == 0 ? 0 : uint.MaxValue << (32 - Prefix);

    public uint Broadcast => Network | ~Mask;

    /// <summary>The gateway: the first host address.</summary>
    public uint Gateway => Network + 1;

    /// <summary>How many addresses NICs may take: all but the network, gateway and broadcast addresses.</summary>
    public long Usable => Math.Max(0, (1L << (32 - Prefix)) - 3);

    public bool Contains(uint address) => (address & Mask) == Network;

    public bool Overlaps(Ipv4Cidr other) => Contains(other.Network) || other.Contains(Network);

    public override string ToString() => $"{Format(Network)}/{Prefix.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The host addresses a NIC may have, in order: after the gateway, before the broadcast address.</summary>
    public IEnumerable<uint> NicAddresses()
    {
        for (var a = Gateway + 1; a < Broadcast; a++)
        {
            yield return a;
        }
    }

    public static string Format(uint address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}");

    /// <summary>An address in the plain dotted form, or null.</summary>
    public static uint? ParseAddress(string? text)
    {
        var parts = (text ?? "").Split('.');
        if (parts.Length != 4)
        {
            return null;
        }

        uint address = 0;
        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || !part.All(char.IsAsciiDigit) || (part.Length > 1 && part[0] == '0'))
            {
                return null;
            }

            var octet = uint.Parse(part, CultureInfo.InvariantCulture);
            if (octet > 255)
            {
                return null;
            }

            address = (address << 8) | octet;
        }

        return address;
    }

    /// <summary>
    /// <paramref name="text"/> as a CIDR whose host bits may be set (<c>10.0.0.5/24</c> parses, as
    /// <see cref="Network"/> 10.0.0.5): <see cref="NetworkRules.CidrProblem"/> says what is wrong with it.
    /// </summary>
    public static Ipv4Cidr? Parse(string? text)
    {
        var slash = (text ?? "").Split('/');
        if (slash.Length != 2 || slash[1].Length is 0 or > 2 || !slash[1].All(char.IsAsciiDigit) || ParseAddress(slash[0]) is not { } address)
        {
            return null;
        }

        var prefix = int.Parse(slash[1], CultureInfo.InvariantCulture);
        return prefix > 32 ? null : new Ipv4Cidr(address, prefix);
    }

    /// <summary>The network that contains this one's address at its prefix (the host bits cleared).</summary>
    public Ipv4Cidr Normalized => this with { Network = Network & Mask };
}
