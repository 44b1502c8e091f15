namespace Paddock.Portal.Features.Flavors;

/// <summary>
/// A size admins offer: vCPUs, memory and disk. Usable by everyone, or only by the members of
/// <see cref="GroupIds"/>; with <see cref="NeedsApproval"/> a member's create becomes a request.
/// </summary>
public sealed class Flavor
{
    public Guid Id { get; set; }

    public string Name { get; set; } = "";

    public int VCpus { get; set; }

    public int MemoryMiB { get; set; }

    public int DiskMiB { get; set; }

    /// <summary>The groups whose members may use it; empty for everyone.</summary>
    public List<Guid> GroupIds { get; set; } = [];

    public bool NeedsApproval { get; set; }

    /// <summary>The longest lease a VM of this flavor may have; null for no maximum.</summary>
    public TimeSpan? MaxLease { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The accelerator its VMs need ("kvm", "whpx" or "tcg"); null for any.</summary>
    public string? RequiredAccelerator { get; set; }

    /// <summary>Noisy-neighbour limits its VMs get: CPU weight and cap, disk I/O, balloon floor.</summary>
    public Paddock.Engine.Vms.ResourceLimits Limits { get; set; } = Paddock.Engine.Vms.ResourceLimits.None;

    public string Sizes => $"{VCpus} vCPU{(VCpus == 1 ? "" : "s")}, {MemoryMiB} MiB, {Quotas.QuotaRules.Disk(DiskMiB)} disk";
}
