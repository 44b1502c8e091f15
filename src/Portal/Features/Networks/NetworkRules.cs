using System.Text;

namespace Paddock.Portal.Features.Networks;

/// <summary>A range nobody's network may overlap, and why (shown in the refusal).</summary>
public sealed record ReservedRange(Ipv4Cidr Range, string Why);

/// <summary>What a network may be, which address a NIC gets and what its DNS name is: pure functions.</summary>
public static class NetworkRules
{
    public const int MaxNameLength = 64;

    public const int MinPrefix = 16;

    public const int MaxPrefix = 29;

    /// <summary>What the kernel and the Internet keep for themselves: 0/8, loopback, link-local, multicast and the reserved rest.</summary>
    public static readonly IReadOnlyList<ReservedRange> Special =
    [
        new(Ipv4Cidr.Parse("0.0.0.0/8")!.Value, "0.0.0.0/8 (this network)"),
        new(Ipv4Cidr.Parse("127.0.0.0/8")!.Value, "127.0.0.0/8 (loopback)"),
        new(Ipv4Cidr.Parse("169.254.0.0/16")!.Value, "169.254.0.0/16 (link-local)"),
        new(Ipv4Cidr.Parse("224.0.0.0/3")!.Value, "224.0.0.0/3 (multicast and reserved)"),
    ];

    /// <summary>
    /// The first network a person's default network tries; the next /16s of 10.0.0.0/8 follow when
    /// it is taken. A /16, so that one person's VMs never run out of addresses in it (a quota can allow thousands).
    /// </summary>
    public static readonly Ipv4Cidr DefaultCidr = Ipv4Cidr.Parse("10.0.0.0/16")!.Value;

    public const string DefaultName = "default";

    public static string? NameProblem(string? name) => DisplayNames.Problem(name, MaxNameLength);

    /// <summary>
    /// Null when <paramref name="text"/> is a network address with a prefix from /16 to /29 that
    /// overlaps none of <paramref name="reserved"/> and none of <paramref name="others"/> (the same
    /// owner's networks, by name); otherwise why not, naming what it overlaps.
    /// </summary>
    public static string? CidrProblem(string? text, IEnumerable<ReservedRange> reserved, IEnumerable<(string Name, string Cidr)> others)
    {
        if (Ipv4Cidr.Parse(text?.Trim()) is not { } cidr)
        {
            return "CIDR: an IPv4 network such as 10.10.0.0/24.";
        }

        if (cidr.Prefix is < MinPrefix or > MaxPrefix)
        {
            return $"CIDR: the prefix must be /{MinPrefix} to /{MaxPrefix}; /{cidr.Prefix} is not.";
        }

        if (cidr.Normalized != cidr)
        {
            return $"CIDR: {cidr} is not a network address (its host part is not zero); did you mean {cidr.Normalized}?";
        }

        if (reserved.FirstOrDefault(r => r.Range.Overlaps(cidr)) is { } taken)
        {
            return $"CIDR: {cidr} overlaps {taken.Why}.";
        }

        foreach (var (name, other) in others)
        {
            if (Ipv4Cidr.Parse(other) is { } range && range.Overlaps(cidr))
            {
                return $"CIDR: {cidr} overlaps your network '{name}' ({range}).";
            }
        }

        return null;
    }

    /// <summary>The ranges an admin listed (<c>Networks:Reserved</c>) and the hosts' own addresses, beside <see cref="Special"/>.</summary>
    public static IReadOnlyList<ReservedRange> Reserved(IEnumerable<string> configured, IEnumerable<string> hostAddresses) =>
        [.. Special,
            .. configured.Select(c => Ipv4Cidr.Parse(c)?.Normalized is { } r ? new ReservedRange(r, $"{r} (the hosts' networks)") : null).OfType<ReservedRange>(),
            .. hostAddresses.Select(Ipv4Cidr.ParseAddress).OfType<uint>().Select(a => new ReservedRange(new Ipv4Cidr(a, 32), $"{Ipv4Cidr.Format(a)} (a host's address)"))];

    /// <summary>The first /16 of 10.0.0.0/8 from <see cref="DefaultCidr"/> on that overlaps nothing of <paramref name="reserved"/> and <paramref name="others"/>.</summary>
    public static string DefaultCidrFor(IReadOnlyList<ReservedRange> reserved, IReadOnlyList<(string Name, string Cidr)> others)
    {
        for (var i = 0u; i < 256; i++)
        {
            var candidate = DefaultCidr with { Network = DefaultCidr.Network + (i << 16) };
            if (CidrProblem(candidate.ToString(), reserved, others) is null)
            {
                return candidate.ToString();
            }
        }

        throw new RefusedException("Network: no room left in 10.0.0.0/8 for a default network; make one yourself.", "network");
    }

    /// <summary>The lowest address of <paramref name="cidr"/> a NIC may have that is not in <paramref name="taken"/>; null when the network is full.</summary>
    public static string? FreeAddress(string cidr, IEnumerable<string> taken)
    {
        var range = Ipv4Cidr.Parse(cidr) ?? throw new ArgumentException($"Not a CIDR: {cidr}", nameof(cidr));
        var used = taken.Select(Ipv4Cidr.ParseAddress).OfType<uint>().ToHashSet();
        foreach (var address in range.NicAddresses())
        {
            if (!used.Contains(address))
            {
                return Ipv4Cidr.Format(address);
            }
        }

        return null;
    }

    /// <summary>
    /// A VM's name as a DNS label (RFC 1123: lowercase letters, digits and inner hyphens, at most 63):
    /// "Web Server 1" is <c>web-server-1</c>; a name with nothing usable is <c>vm-</c> and the id's first 8 hex digits.
    /// </summary>
    public static string DnsLabel(string vmName, Guid vmId)
    {
        var label = new StringBuilder();
        foreach (var c in vmName.ToLowerInvariant())
        {
            if (char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c))
            {
                label.Append(c);
            }
            else if (label.Length > 0 && label[^1] != '-')
            {
                label.Append('-');
            }
        }

        var text = label.ToString().Trim('-');
        text = text.Length > 63 ? text[..63].TrimEnd('-') : text;
        return text.Length == 0 ? Fallback(vmId) : text;
    }

    public static string Fallback(Guid vmId) => $"vm-{vmId:N}"[..11];
}
