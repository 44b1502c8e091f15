using System.Text.Json;

namespace Paddock.Engine.Networks;

/// <summary>A link as <c>ip -j -d link show</c> reports it.</summary>
public sealed record Link(string Name, string? Kind, string? Master);

/// <summary>Reads what the kernel reports (JSON from <c>ip -j</c> and <c>bridge -j</c>) into plain values.</summary>
public static class LinkInventory
{
    public static IReadOnlyList<Link> ParseLinks(string json) =>
        [.. Array(json).Select(l => new Link(
            l.GetProperty("ifname").GetString()!,
            l.TryGetProperty("linkinfo", out var info) && info.TryGetProperty("info_kind", out var kind) ? kind.GetString() : null,
            l.TryGetProperty("master", out var master) ? master.GetString() : null))];

    /// <summary>The peers in a VXLAN device's FDB: its all-zero entries with their destination and port.</summary>
    public static IReadOnlyList<VxlanEndpoint> ParsePeers(string json, int defaultPort) =>
        [.. Array(json)
            .Where(e => e.TryGetProperty("mac", out var mac) && mac.GetString() == "00:00:00:00:00:00" && e.TryGetProperty("dst", out _))
            .Select(e => new VxlanEndpoint(e.GetProperty("dst").GetString()!,
                e.TryGetProperty("port", out var port) ? port.GetInt32() : defaultPort))];

    /// <summary>
    /// The addresses of <c>ip -j addr show dev X</c> that the host uses: all but IPv6 link-local
    /// ones (the kernel gives every IPv6 link one; losing it cuts nobody off).
    /// </summary>
    public static IReadOnlyList<string> ParseAddresses(string json) =>
        [.. Array(json).Where(l => l.TryGetProperty("addr_info", out _)).SelectMany(l => l.GetProperty("addr_info").EnumerateArray())
            .Where(a => !(a.TryGetProperty("scope", out var scope) && scope.GetString() == "link" && a.TryGetProperty("family", out var family) && family.GetString() == "inet6"))
            .Select(a => $"{a.GetProperty("local").GetString()}/{a.GetProperty("prefixlen").GetInt32()}")];

    /// <summary>The interfaces of the host's default routes (<c>ip -j -4 route show default</c>).</summary>
    public static IReadOnlyList<string> ParseUplinks(string json) =>
        [.. Array(json).Where(r => r.TryGetProperty("dev", out _)).Select(r => r.GetProperty("dev").GetString()!).Distinct()];

    private static IEnumerable<JsonElement> Array(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
            return [];
        using var document = JsonDocument.Parse(json);
        return document.RootElement.ValueKind == JsonValueKind.Array ? [.. document.RootElement.EnumerateArray().Select(e => e.Clone())] : [];
    }
}
