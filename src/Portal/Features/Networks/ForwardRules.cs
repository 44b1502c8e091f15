using System.Globalization;
using Paddock.Engine.Networks;

namespace Paddock.Portal.Features.Networks;

/// <summary>The rules of port forwards, pure: the admins' port range, a member's request, which host port.</summary>
public static class ForwardRules
{
    /// <summary>A range such as <c>20000-20999</c> (or one port), within 1 to 65535; null when it is none.</summary>
    public static (int First, int Last)? ParseRange(string? text)
    {
        var parts = (text ?? "").Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length is < 1 or > 2 || !parts.All(p => p.Length is > 0 and <= 5 && p.All(char.IsAsciiDigit)))
        {
            return null;
        }

        var first = int.Parse(parts[0], CultureInfo.InvariantCulture);
        var last = int.Parse(parts[^1], CultureInfo.InvariantCulture);
        return first is >= 1 and <= 65535 && last is >= 1 and <= 65535 && first <= last ? (first, last) : null;
    }

    /// <summary>What is wrong with a request, with the field it names; null when nothing is.</summary>
    public static (string Problem, string Field)? Problem(NewForward request, (int First, int Last) range) =>
        !PortForward.Protocols.Contains(request.Protocol) ? ("Protocol: tcp or udp.", "protocol")
        : request.GuestPort is < 1 or > 65535 ? ("Guest port: from 1 to 65535.", "guestPort")
        : request.HostPort is { } port && (port < range.First || port > range.Last)
            ? ($"Host port: from {range.First} to {range.Last} (the range an admin allows), or empty for any free one.", "hostPort")
        : null;

    /// <summary>
    /// The host port: the one asked for when free, otherwise the lowest free one of the range
    /// (<paramref name="preferred"/> first, so a forward keeps its port when it moves to a host where it is free).
    /// </summary>
    public static int? Pick((int First, int Last) range, IReadOnlySet<int> taken, int? preferred = null)
    {
        if (preferred is { } wanted && wanted >= range.First && wanted <= range.Last && !taken.Contains(wanted))
        {
            return wanted;
        }

        for (var port = range.First; port <= range.Last; port++)
        {
            if (!taken.Contains(port))
            {
                return port;
            }
        }

        return null;
    }

    /// <summary>
    /// Why a NIC can have no forward: it is isolated (QEMU must never listen on a host port), or its
    /// network has NAT off (the way in is the NAT's transit link). Null when it can.
    /// </summary>
    public static string? NotForwardable(string nicId, string vmName, TenantNetwork? network) =>
        network is null ? $"NIC: {nicId} of '{vmName}' is isolated or not on a network: no port forwards."
        : !network.Nat ? $"NIC: network '{network.Name}' has NAT off; port forwards come in through NAT."
        : null;

    /// <summary>The refusal of a forward over the owner's quota; null when it fits.</summary>
    public static string? OverQuota(int inUse, int? limit) =>
        inUse >= limit ? $"Over quota: port forwards: you have {inUse} of {limit}; delete one first or ask an admin for more." : null;

    /// <summary>What a person types to reach the forward: the host's address and the port.</summary>
    public static string Reach(string hostAddress, int hostPort) => string.Create(CultureInfo.InvariantCulture, $"{hostAddress}:{hostPort}");
}
