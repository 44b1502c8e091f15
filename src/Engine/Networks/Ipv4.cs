using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Paddock.Engine.Networks;

/// <summary>An IPv4 network in CIDR form. Only the strict dotted-quad form is read: no "10.1", no octal, no spaces.</summary>
public readonly partial record struct Ipv4Cidr(uint Network, int PrefixLength)
{
    public uint Mask => PrefixLength == 0 ? 0 : uint.MaxValue << (32 - PrefixLength);

    public uint Broadcast => Network | ~Mask;

    public bool Contains(uint address) => (address & Mask) == Network;

    public bool Overlaps(Ipv4Cidr other)
    {
        var mask = PrefixLength < other.PrefixLength ? Mask : other.Mask;
        return (Network & mask) == (other.Network & mask);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Ipv4.Format(Network)}/{PrefixLength}");

    /// <summary>Reads <c>a.b.c.d/n</c> whose host bits are zero.</summary>
    /// <exception cref="InvalidNetworkException">Anything else, naming <paramref name="field"/>.</exception>
    public static Ipv4Cidr Parse(string? text, string field)
    {
        var match = text is null ? null : CidrPattern().Match(text);
        if (match is not { Success: true })
            throw new InvalidNetworkException(field, $"{field} must be an IPv4 network such as 10.10.0.0/24 (was '{Ipv4.Printable(text)}')");
        var address = Ipv4.Parse(match.Groups[1].Value, field);
        var length = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        if (length is < 8 or > 30)
            throw new InvalidNetworkException(field, $"{field} must have a prefix length from /8 to /30 (was /{length})");
        var cidr = new Ipv4Cidr(address, length);
        if ((address & ~cidr.Mask) != 0)
            throw new InvalidNetworkException(field, $"{field} has host bits set: did you mean {new Ipv4Cidr(address & cidr.Mask, length)}?");
        return cidr;
    }

    [GeneratedRegex(@"^([0-9]{1,3}(?:\.[0-9]{1,3}){3})/([0-9]{1,2})\z", RegexOptions.CultureInvariant)]
    private static partial Regex CidrPattern();
}

/// <summary>IPv4 addresses as 32-bit numbers, read strictly and written in dotted-quad form.</summary>
public static partial class Ipv4
{
    /// <exception cref="InvalidNetworkException">Not a strict dotted quad (leading zeros, which some tools read as octal, refused).</exception>
    public static uint Parse(string? text, string field)
    {
        if (text is null || !AddressPattern().IsMatch(text))
            throw new InvalidNetworkException(field, $"{field} must be an IPv4 address such as 10.10.0.1 (was '{Printable(text)}')");
        uint value = 0;
        foreach (var part in text.Split('.'))
        {
            var octet = int.Parse(part, CultureInfo.InvariantCulture);
            if (octet > 255 || (part.Length > 1 && part[0] == '0'))
                throw new InvalidNetworkException(field, $"{field} must be an IPv4 address such as 10.10.0.1 (was '{Printable(text)}')");
            value = (value << 8) | (uint)octet;
        }
        return value;
    }

    public static string Format(uint address) =>
        string.Create(CultureInfo.InvariantCulture, $"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}");

    /// <summary>The host's own IPv4 addresses, loopback included.</summary>
    public static IReadOnlyList<uint> HostAddresses() =>
        [.. System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Where(a => a.Address.AddressFamily == AddressFamily.InterNetwork)
            .Select(a => ToNumber(a.Address))];

    public static uint ToNumber(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        return ((uint)bytes[0] << 24) | ((uint)bytes[1] << 16) | ((uint)bytes[2] << 8) | bytes[3];
    }

    // Values are echoed into messages a person reads: keep control characters out.
    internal static string Printable(string? value) =>
        value is null ? "null" : string.Concat(value.Take(64).Select(c => char.IsControl(c) ? '?' : c));

    [GeneratedRegex(@"^[0-9]{1,3}(\.[0-9]{1,3}){3}\z", RegexOptions.CultureInvariant)]
    private static partial Regex AddressPattern();
}
