namespace Paddock.Portal.Features.Quotas;

/// <summary>The four things a quota counts.</summary>
public enum QuotaResource
{
    Vms,
    VCpus,
    Memory,
    Disk,
}

/// <summary>What VMs take, counted while they exist whatever their state: how many, their vCPUs, memory and disks (MiB).</summary>
public sealed record QuotaUsage(int Vms, int VCpus, long MemoryMiB, long DiskMiB)
{
    public static readonly QuotaUsage Zero = new(0, 0, 0, 0);

    public static QuotaUsage operator +(QuotaUsage a, QuotaUsage b) => new(a.Vms + b.Vms, a.VCpus + b.VCpus, a.MemoryMiB + b.MemoryMiB, a.DiskMiB + b.DiskMiB);

    public static QuotaUsage operator -(QuotaUsage a, QuotaUsage b) => new(a.Vms - b.Vms, a.VCpus - b.VCpus, a.MemoryMiB - b.MemoryMiB, a.DiskMiB - b.DiskMiB);

    /// <summary>One VM of these sizes; disks are counted by their virtual size, rounded up to whole MiB.</summary>
    public static QuotaUsage OneVm(int vcpus, int memoryMiB, long diskBytes) => new(1, vcpus, memoryMiB, MiB(diskBytes));

    public static long MiB(long bytes) => (bytes + (1024 * 1024) - 1) / (1024 * 1024);

    public long this[QuotaResource resource] => resource switch
    {
        QuotaResource.Vms => Vms,
        QuotaResource.VCpus => VCpus,
        QuotaResource.Memory => MemoryMiB,
        QuotaResource.Disk => DiskMiB,
        _ => throw new ArgumentOutOfRangeException(nameof(resource)),
    };
}

/// <summary>
/// Limits on each resource; null means no limit. <paramref name="Networks"/> counts a user's tenant
/// networks (their default network aside), not VMs: the Networks feature checks it when one is made.
/// <paramref name="PortForwards"/> counts the port forwards of a user's VMs, checked when one is added.
/// </summary>
public sealed record QuotaLimits(int? Vms, int? VCpus, long? MemoryMiB, long? DiskMiB, int? Networks = null, int? PortForwards = null)
{
    public static readonly QuotaLimits None = new(null, null, null, null);

    /// <summary>What members get unless an admin says otherwise: room for a few small VMs and networks.</summary>
    public static readonly QuotaLimits UserDefault = new(10, 20, 32 * 1024, 500 * 1024, 5, 5);

    public long? this[QuotaResource resource] => resource switch
    {
        QuotaResource.Vms => Vms,
        QuotaResource.VCpus => VCpus,
        QuotaResource.Memory => MemoryMiB,
        QuotaResource.Disk => DiskMiB,
        _ => throw new ArgumentOutOfRangeException(nameof(resource)),
    };

    public QuotaLimits With(QuotaResource resource, long? limit) => resource switch
    {
        QuotaResource.Vms => this with { Vms = (int?)limit },
        QuotaResource.VCpus => this with { VCpus = (int?)limit },
        QuotaResource.Memory => this with { MemoryMiB = limit },
        QuotaResource.Disk => this with { DiskMiB = limit },
        _ => throw new ArgumentOutOfRangeException(nameof(resource)),
    };
}

/// <summary>
/// One resource that would not fit: what was asked, what is in use and the limit, for
/// <paramref name="Subject"/> (null for the person themselves, otherwise "group 'lab'").
/// </summary>
public sealed record QuotaShortfall(QuotaResource Resource, long Requested, long InUse, long Limit, string? Subject = null)
{
    /// <summary>"memory: requested 4096 MiB, in use 6144 of 8192 MiB".</summary>
    public string Message => $"{QuotaRules.Name(Resource)}{(Subject is null ? "" : $" of {Subject}")}: requested {QuotaRules.Amount(Resource, Requested)}, "
        + $"in use {QuotaRules.Number(Resource, InUse)} of {QuotaRules.Amount(Resource, Limit)}";

    /// <summary>The create form's field the shortfall belongs next to.</summary>
    public string Field => Resource switch
    {
        QuotaResource.VCpus => "vcpus",
        QuotaResource.Memory => "memory",
        QuotaResource.Disk => "disk",
        _ => "quota",
    };
}

/// <summary>Quota arithmetic: pure functions over limits and usage.</summary>
public static class QuotaRules
{
    public static readonly IReadOnlyList<QuotaResource> Resources = Enum.GetValues<QuotaResource>();

    /// <summary>Every resource that <paramref name="requested"/> on top of <paramref name="inUse"/> would take beyond <paramref name="limits"/>.</summary>
    public static IReadOnlyList<QuotaShortfall> Check(QuotaLimits limits, QuotaUsage inUse, QuotaUsage requested, string? subject = null) =>
        [.. Resources
            .Where(r => requested[r] > 0 && limits[r] is { } limit && inUse[r] + requested[r] > limit)
            .Select(r => new QuotaShortfall(r, requested[r], inUse[r], limits[r]!.Value, subject))];

    /// <summary>The smallest change to <paramref name="limits"/> that lets <paramref name="requested"/> fit: only the resources short are raised, and only as far as needed.</summary>
    public static QuotaLimits RaisedToFit(QuotaLimits limits, QuotaUsage inUse, QuotaUsage requested) =>
        Check(limits, inUse, requested).Aggregate(limits, (raised, s) => raised.With(s.Resource, s.InUse + s.Requested));

    public static string Name(QuotaResource resource) => resource switch
    {
        QuotaResource.Vms => "VMs",
        QuotaResource.VCpus => "vCPUs",
        QuotaResource.Memory => "memory",
        QuotaResource.Disk => "disk",
        _ => resource.ToString(),
    };

    /// <summary>A number with its unit: "4096 MiB", "2 vCPUs", "1 VM"; disks above a GiB in GiB.</summary>
    public static string Amount(QuotaResource resource, long value) => resource switch
    {
        QuotaResource.Vms => value == 1 ? "1 VM" : $"{value} VMs",
        QuotaResource.VCpus => value == 1 ? "1 vCPU" : $"{value} vCPUs",
        QuotaResource.Memory => $"{value} MiB",
        QuotaResource.Disk => Disk(value),
        _ => value.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The bare number, where the unit follows ("in use 6144 of 8192 MiB"); disks keep theirs, as they may change unit.</summary>
    public static string Number(QuotaResource resource, long value) => resource == QuotaResource.Disk ? Disk(value) : value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string Disk(long mib) => mib < 1024 || mib % 1024 != 0 && mib < 10 * 1024
        ? $"{mib} MiB"
        : $"{(mib / 1024.0).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} GiB";
}
