using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Paddock.Engine.GuestAgent;

/// <summary>guest-info: the agent's version and the commands it has enabled.</summary>
public sealed record GuestAgentInfo(string Version, IReadOnlyList<string> SupportedCommands)
{
    internal static GuestAgentInfo From(JsonElement reply)
    {
        var info = GuestAgentMember.Object(reply, "return");
        var commands = info.TryGetProperty("supported_commands", out var list)
            ? GuestAgentMember.Objects(list, "supported_commands", GuestAgentLimits.MaxSupportedCommands)
                .Where(c => GuestAgentMember.Boolean(c, "enabled"))
                .Select(c => GuestAgentMember.Text(c, "name", GuestAgentLimits.MaxTextChars))
                .ToList()
            : [];
        return new(GuestAgentMember.Text(info, "version", GuestAgentLimits.MaxTextChars), commands);
    }
}

/// <summary>guest-get-osinfo (os-release(5) on Linux): each field null when the guest did not say.</summary>
public sealed record GuestOsInfo(string? PrettyName, string? Id, string? VersionId, string? KernelRelease)
{
    internal static GuestOsInfo From(JsonElement reply)
    {
        var os = GuestAgentMember.Object(reply, "return");
        string? Text(string name) => GuestAgentMember.OptionalText(os, name, GuestAgentLimits.MaxTextChars);
        return new(Text("pretty-name"), Text("id"), Text("version-id"), Text("kernel-release"));
    }
}

/// <summary>How <see cref="GuestAgentClient.ShutdownAsync"/> asks the guest to go down (guest-shutdown's <c>mode</c>).</summary>
public enum GuestShutdownMode
{
    Powerdown,
    Reboot,
    Halt,
}

/// <summary>guest-fsfreeze-status: whether the guest's file systems are frozen for a consistent disk snapshot.</summary>
public enum GuestFreezeStatus
{
    Thawed,
    Frozen,
}

/// <summary>Which kind of address a <see cref="GuestIpAddress"/> is (guest-network-get-interfaces' <c>ip-address-type</c>).</summary>
public enum GuestIpFamily
{
    IPv4,
    IPv6,
}

/// <summary>One network interface the guest reports (guest-network-get-interfaces).</summary>
/// <param name="HardwareAddress">The MAC address as the guest wrote it (cleaned); null when it gave none.</param>
public sealed record GuestNetworkInterface(string Name, string? HardwareAddress, IReadOnlyList<GuestIpAddress> Addresses)
{
    /// <summary>
    /// The first <see cref="GuestAgentLimits.MaxInterfaces"/> interfaces with their first
    /// <see cref="GuestAgentLimits.MaxAddressesPerInterface"/> addresses; an address that does not
    /// parse, whose family does not match its type or whose prefix is out of range is left out.
    /// </summary>
    internal static IReadOnlyList<GuestNetworkInterface> ListFrom(JsonElement reply) =>
    [
        .. GuestAgentMember.Objects(reply, "return", GuestAgentLimits.MaxInterfaces).Select(i => new GuestNetworkInterface(
            GuestAgentMember.Text(i, "name", GuestAgentLimits.MaxTextChars),
            GuestAgentMember.OptionalText(i, "hardware-address", GuestAgentLimits.MaxTextChars),
            [.. GuestAgentMember.OptionalObjects(i, "ip-addresses", GuestAgentLimits.MaxAddressesPerInterface)
                .Select(GuestIpAddress.TryFrom).OfType<GuestIpAddress>()])),
    ];
}

/// <summary>An address of a <see cref="GuestNetworkInterface"/>, parsed: what the guest wrote is never passed on as text.</summary>
public sealed record GuestIpAddress(IPAddress Address, int Prefix, GuestIpFamily Family)
{
    /// <summary>Longer than any IPv6 address in text (45 characters, RFC 4291 2.2 form 3).</summary>
    private const int MaxAddressChars = 64;

    /// <summary>The address; null when it is not one this client believes.</summary>
    /// <exception cref="GuestAgentProtocolException">A member has the wrong type.</exception>
    internal static GuestIpAddress? TryFrom(JsonElement address)
    {
        var type = GuestAgentMember.OptionalRawText(address, "ip-address-type");
        var text = GuestAgentMember.OptionalRawText(address, "ip-address");
        var prefix = GuestAgentMember.OptionalInteger(address, "prefix");
        (GuestIpFamily Family, AddressFamily Sockets, int MaxPrefix)? family = type switch
        {
            "ipv4" => (GuestIpFamily.IPv4, AddressFamily.InterNetwork, 32),
            "ipv6" => (GuestIpFamily.IPv6, AddressFamily.InterNetworkV6, 128),
            _ => null,
        };
        if (family is not { } f || text is null || text.Length > MaxAddressChars || prefix is not { } p || p < 0 || p > f.MaxPrefix)
            return null;
        if (!IPAddress.TryParse(text, out var parsed) || parsed.AddressFamily != f.Sockets)
            return null;
        // IPAddress.TryParse also takes "127.1", "0x7f.0.0.1" and "010.0.0.1"; qemu-ga writes inet_ntop's dotted quad.
        if (f.Family == GuestIpFamily.IPv4 && parsed.ToString() != text)
            return null;
        // A scope (fe80::1%eth0) names something in the guest: it means nothing on the host.
        return new(new IPAddress(parsed.GetAddressBytes()), (int)p, f.Family);
    }
}
