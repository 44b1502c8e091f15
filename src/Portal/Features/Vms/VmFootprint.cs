using System.Linq.Expressions;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// What a VM takes from its host and its owner's quota, and no more: placement and admission read
/// this for every VM on each create, so the database sends a few fields instead of whole documents.
/// </summary>
public sealed class VmFootprint
{
    public Guid HostId { get; set; }

    public int VCpus { get; set; }

    public int MemoryMiB { get; set; }

    public long DiskBytes { get; set; }

    public List<VmDisk> ExtraDisks { get; set; } = [];

    public PendingHardware? PendingHardware { get; set; }

    /// <summary>The select Marten turns into SQL (one JSON object of these fields per row).</summary>
    public static readonly Expression<Func<Vm, VmFootprint>> Projection = v => new VmFootprint
    {
        HostId = v.HostId,
        VCpus = v.VCpus,
        MemoryMiB = v.MemoryMiB,
        DiskBytes = v.DiskBytes,
        ExtraDisks = v.ExtraDisks,
        PendingHardware = v.PendingHardware,
    };

    private static readonly Func<Vm, VmFootprint> Compiled = Projection.Compile();

    public static VmFootprint Of(Vm vm) => Compiled(vm);
}
