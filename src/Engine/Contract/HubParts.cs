using System.Text.Json;

namespace Paddock.Engine.Contract;

/// <summary>
/// How a host keeps each hub message small however many VMs it runs: the lists that grow with its
/// VMs (a registration's VM reports, a usage report's VMs) go in parts of about
/// <see cref="PartBytes"/> of JSON each. The hub takes messages up to <see cref="MaxMessageBytes"/>,
/// which a part holding one item at its largest fits (a VM whose guest reports 16 NICs of 16
/// addresses, each text at its longest: about 80 KB); a registration of 500 VMs no longer needs
/// the megabytes the hub once allowed.
/// </summary>
public static class HubParts
{
    public const int PartBytes = 16 * 1024;

    public const long MaxMessageBytes = 256 * 1024;

    /// <summary>More parts than a host with a hundred thousand VMs needs: a bound for the hub's check.</summary>
    public const int MaxParts = 10_000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The items in order, in parts of at most <paramref name="budget"/> bytes of JSON (an item larger alone is a part alone); at least one part.</summary>
    public static IReadOnlyList<IReadOnlyList<T>> Split<T>(IReadOnlyList<T> items, int budget = PartBytes)
    {
        var parts = new List<IReadOnlyList<T>>();
        var part = new List<T>();
        var bytes = 0;
        foreach (var item in items)
        {
            // The comma between items counts too.
            var size = JsonSerializer.SerializeToUtf8Bytes(item, Json).Length + 1;
            if (part.Count > 0 && bytes + size > budget)
            {
                parts.Add(part);
                (part, bytes) = ([], 0);
            }

            part.Add(item);
            bytes += size;
        }

        if (part.Count > 0 || parts.Count == 0)
        {
            parts.Add(part);
        }

        return parts;
    }

    /// <summary>A usage report in parts: the first carries the host's figures and the first VMs, each next one more VMs of the same report.</summary>
    public static IReadOnlyList<HostUsage> Split(HostUsage usage)
    {
        var parts = Split(usage.Vms);
        return [.. parts.Select((vms, i) => usage with { Vms = vms, Part = i, Parts = parts.Count })];
    }
}
