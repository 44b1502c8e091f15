using System.Globalization;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Placement;

/// <summary>vCPUs, memory and disk (MiB): what a VM asks for, what a host has allocated, or what it can hold.</summary>
public readonly record struct Resources(long VCpus, long MemoryMiB, long DiskMiB)
{
    public static Resources operator +(Resources a, Resources b) => new(a.VCpus + b.VCpus, a.MemoryMiB + b.MemoryMiB, a.DiskMiB + b.DiskMiB);

    public static Resources operator -(Resources a, Resources b) => new(a.VCpus - b.VCpus, a.MemoryMiB - b.MemoryMiB, a.DiskMiB - b.DiskMiB);
}

/// <summary>
/// A host as placement sees it: what it has, under which policy, what is allocated on it, and whether
/// it may take VMs at all. <c>Unconfined</c> names the walls the host cannot give a VM when no admin
/// allowed unconfined VMs on it (null otherwise). <c>TenantNetworks</c>: its agent lays out tenant
/// networks (it registered a VXLAN endpoint; an agent that is not root registers none).
/// </summary>
public sealed record HostView(
    Guid Id, string Name, int Cpus, long MemoryMiB, long DiskMiB, OvercommitPolicy Policy, Resources Allocated,
    bool Reachable = true, bool Maintenance = false, string Accelerator = "tcg", string? Unconfined = null, IReadOnlyCollection<string>? Images = null,
    bool TenantNetworks = true);

/// <summary>A host placement passed over, and why, in words an admin reads; <c>Fitted</c>: it could have taken the VM, and the weigher chose another.</summary>
public sealed record PassedOver(Guid HostId, string HostName, string Reason, bool Fitted = false);

/// <summary>The host chosen (null when none fits), why every other host was passed over, and the sentence a member reads when none fits.</summary>
public sealed record PlacementDecision(HostView? Chosen, IReadOnlyList<PassedOver> PassedOver, string? Refusal)
{
    /// <summary>Hosts passed over that a VM keeps with it: with two thousand hosts, all of them made every VM's document some 300 KB.</summary>
    public const int KeptPassedOver = 10;

    /// <summary>What a VM keeps of the decision: the first <paramref name="most"/> hosts passed over, those that fitted first (the runners-up), and how many more there were.</summary>
    public (IReadOnlyList<PassedOver> Kept, int Others) Kept(int most = KeptPassedOver) =>
        ([.. PassedOver.OrderByDescending(p => p.Fitted).Take(most)], Math.Max(0, PassedOver.Count - most));

    /// <summary>The hosts passed over, for a sentence: at most <paramref name="most"/> of them, then how many more.</summary>
    public string Described(int most = KeptPassedOver)
    {
        var (kept, others) = Kept(most);
        return string.Join("; ", kept.Select(p => $"{p.HostName}: {p.Reason}")) + (others > 0 ? $"; and {others} more" : "");
    }
}

/// <summary>Placement: filters, then a weigher. Pure functions, so that they can be tested and measured without a fleet.</summary>
public static class Placement
{
    /// <summary>What a host can hold under its policy: <c>(total - reserved) x ratio</c> for each resource.</summary>
    public static Resources Capacity(HostView host) => new(
        (long)Math.Floor(Math.Max(0, host.Cpus - host.Policy.ReservedCpus) * host.Policy.CpuRatio),
        (long)Math.Floor(Math.Max(0, host.MemoryMiB - host.Policy.ReservedMemoryMiB) * host.Policy.RamRatio),
        (long)Math.Floor(host.DiskMiB * host.Policy.DiskRatio));

    public static Resources Free(HostView host) => Capacity(host) - host.Allocated;

    /// <summary>Why a host whose agent lays out no tenant network is passed over for a VM with a NIC on one.</summary>
    public const string NoTenantNetworks = "carries no tenant networks (its agent cannot lay them out: it does not run as root)";

    /// <summary>Why <paramref name="host"/> cannot take <paramref name="request"/>, or null when it can.</summary>
    /// <remarks><paramref name="tenantNetworks"/>: the VM has a NIC on a tenant network, which only a host that lays them out can carry.</remarks>
    public static string? Filter(HostView host, Resources request, string? accelerator = null, string? installedImage = null, bool tenantNetworks = false)
    {
        if (host.Maintenance)
        {
            return "in maintenance";
        }

        if (!host.Reachable)
        {
            return "unreachable";
        }

        if (host.Unconfined is { } lacks)
        {
            return $"cannot confine VMs: lacks {lacks}; unconfined VMs are not allowed on it";
        }

        if (accelerator is not null && !string.Equals(host.Accelerator, accelerator, StringComparison.OrdinalIgnoreCase))
        {
            return $"no {accelerator} (it has {host.Accelerator})";
        }

        if (installedImage is not null && host.Images?.Contains(installedImage) != true)
        {
            return $"no {installedImage} (installed with each host, not in the library, and not on this one)";
        }

        if (tenantNetworks && !host.TenantNetworks)
        {
            return NoTenantNetworks;
        }

        return CapacityRefusal(host, request);
    }

    /// <summary>Why <paramref name="host"/> has no room for <paramref name="request"/> more (a new VM, or a VM there that grows), or null when it has.</summary>
    public static string? CapacityRefusal(HostView host, Resources request)
    {
        var capacity = Capacity(host);
        var free = capacity - host.Allocated;
        return request.MemoryMiB > free.MemoryMiB
                ? $"memory: {request.MemoryMiB} MiB asked, {Math.Max(0, free.MemoryMiB)} MiB free of {capacity.MemoryMiB} MiB (RAM ratio {Ratio(host.Policy.RamRatio)}, {host.Policy.ReservedMemoryMiB} MiB reserved)"
            : request.VCpus > free.VCpus
                ? $"vCPUs: {request.VCpus} asked, {Math.Max(0, free.VCpus)} free of {capacity.VCpus} (CPU ratio {Ratio(host.Policy.CpuRatio)}, {host.Policy.ReservedCpus} reserved)"
            : request.DiskMiB > free.DiskMiB
                ? $"disk: {request.DiskMiB} MiB asked, {Math.Max(0, free.DiskMiB)} MiB free of {capacity.DiskMiB} MiB (disk ratio {Ratio(host.Policy.DiskRatio)})"
            : null;
    }

    /// <summary>
    /// Filters every host, then weighs those left: <see cref="Weigher.Spread"/> takes the most free
    /// memory, <see cref="Weigher.Pack"/> the least (ties by name, so a decision is repeatable).
    /// </summary>
    /// <remarks>
    /// <paramref name="installedImage"/>: an image hosts do not fetch from the library (the built-in template's), which the host must have.
    /// <paramref name="tenantNetworks"/>: the VM has a NIC on a tenant network, which only a host that lays them out can carry.
    /// </remarks>
    public static PlacementDecision Decide(
        IReadOnlyList<HostView> hosts, Resources request, Weigher weigher, string? accelerator = null, string? installedImage = null, bool tenantNetworks = false)
    {
        var passed = new List<PassedOver>(hosts.Count);
        HostView? best = null;
        long bestFree = 0;
        foreach (var host in hosts)
        {
            if (Filter(host, request, accelerator, installedImage, tenantNetworks) is { } reason)
            {
                passed.Add(new PassedOver(host.Id, host.Name, reason));
                continue;
            }

            var free = Capacity(host).MemoryMiB - host.Allocated.MemoryMiB;
            if (best is null || Better(free, bestFree, host, best, weigher))
            {
                if (best is not null)
                {
                    passed.Add(new PassedOver(best.Id, best.Name, Weighed(weigher), Fitted: true));
                }

                (best, bestFree) = (host, free);
            }
            else
            {
                passed.Add(new PassedOver(host.Id, host.Name, Weighed(weigher), Fitted: true));
            }
        }

        return new PlacementDecision(best, passed, best is null ? Refusal(hosts, request, passed, accelerator) : null);
    }

    private static bool Better(long free, long bestFree, HostView host, HostView best, Weigher weigher) =>
        weigher == Weigher.Pack
            ? free < bestFree || free == bestFree && string.CompareOrdinal(host.Name, best.Name) < 0
            : free > bestFree || free == bestFree && string.CompareOrdinal(host.Name, best.Name) < 0;

    private static string Weighed(Weigher weigher) => weigher == Weigher.Pack ? "fits, but a fuller host was chosen (pack)" : "fits, but a host with more free memory was chosen (spread)";

    /// <summary>What a member reads when no host fits: the resource that stopped most hosts, in plain words.</summary>
    public static string Refusal(IReadOnlyList<HostView> hosts, Resources request, IReadOnlyList<PassedOver> passed, string? accelerator = null)
    {
        if (accelerator is not null && hosts.Where(h => !h.Maintenance && h.Reachable).All(h => !string.Equals(h.Accelerator, accelerator, StringComparison.OrdinalIgnoreCase)))
        {
            return $"No host with {accelerator} can take a VM right now.";
        }

        if (hosts.Count == 0 || passed.All(p => Unavailable(p.Reason)))
        {
            return "No host can take a VM right now: none is available. Ask an admin.";
        }

        var reasons = passed.Select(p => p.Reason).ToList();
        if (reasons.All(r => r is NoTenantNetworks || Unavailable(r)))
        {
            return "No host that carries tenant networks can take a VM right now: put its NICs on Isolated (internet only), or ask an admin.";
        }

        if (reasons.Any(r => r.StartsWith("memory", StringComparison.Ordinal)))
        {
            return $"No host can take {Size(request.MemoryMiB)} of memory right now.";
        }

        if (reasons.Any(r => r.StartsWith("vCPUs", StringComparison.Ordinal)))
        {
            return $"No host can take {request.VCpus} vCPU{(request.VCpus == 1 ? "" : "s")} right now.";
        }

        if (reasons.Any(r => r.StartsWith("disk", StringComparison.Ordinal)))
        {
            return $"No host can take a {Size(request.DiskMiB)} disk right now.";
        }

        return $"No host can take this VM right now: {reasons[0]}.";
    }

    /// <summary>A host that takes no VM at all now, whatever its size: in maintenance, away, or unable to confine one.</summary>
    private static bool Unavailable(string reason) => reason is "in maintenance" or "unreachable" || reason.StartsWith("cannot confine", StringComparison.Ordinal);

    private static string Size(long mib) => mib >= 1024 && mib % 1024 == 0 ? $"{mib / 1024} GiB" : $"{mib} MiB";

    private static string Ratio(double ratio) => ratio.ToString("0.0##", CultureInfo.InvariantCulture);
}
