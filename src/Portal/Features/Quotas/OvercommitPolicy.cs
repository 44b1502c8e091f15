namespace Paddock.Portal.Features.Quotas;

/// <summary>How placement orders the hosts that can take a VM.</summary>
public enum Weigher
{
    /// <summary>Most free memory first: VMs spread over the fleet (the default).</summary>
    Spread,

    /// <summary>Fullest host first: VMs pack onto few hosts, the others stay empty.</summary>
    Pack,
}

/// <summary>
/// How far a host may be overcommitted: allocation ratios for CPU, RAM and disk, and what is kept
/// back for the host itself. A host admits a VM while <c>(total - reserved) x ratio >= allocated + requested</c>
/// holds for each resource. The fleet's is part of <see cref="PortalPolicy"/>, hence here; Placement
/// applies it, and a host's own where an admin gave it one.
/// </summary>
public sealed record OvercommitPolicy
{
    public static readonly OvercommitPolicy Default = new();

    public double CpuRatio { get; init; } = 4.0;

    public double RamRatio { get; init; } = 1.0;

    public double DiskRatio { get; init; } = 1.0;

    public int ReservedCpus { get; init; }

    public long ReservedMemoryMiB { get; init; } = 512;

    public Weigher Weigher { get; init; } = Weigher.Spread;

    public static string? Validate(OvercommitPolicy policy) =>
        policy.CpuRatio is < 0.1 or > 64 ? "CPU ratio: between 0.1 and 64."
        : policy.RamRatio is < 0.1 or > 16 ? "RAM ratio: between 0.1 and 16."
        : policy.DiskRatio is < 0.1 or > 64 ? "Disk ratio: between 0.1 and 64."
        : policy.ReservedCpus is < 0 or > 4096 ? "Reserved CPUs: between 0 and 4096."
        : policy.ReservedMemoryMiB is < 0 or > 16L * 1024 * 1024 ? "Reserved memory: 0 MiB or more."
        : !Enum.IsDefined(policy.Weigher) ? "Placement: Spread or Pack."
        : null;
}
