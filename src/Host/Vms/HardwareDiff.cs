using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>What differs between the hardware a VM has and the hardware it should have.</summary>
public sealed record HardwareDiff(
    IReadOnlyList<DiskSpec> AddedDisks,
    IReadOnlyList<DiskSpec> RemovedDisks,
    IReadOnlyList<(DiskSpec From, DiskSpec To)> GrownDisks,
    IReadOnlyList<NicSpec> AddedNics,
    IReadOnlyList<NicSpec> RemovedNics,
    int AddedVCpus)
{
    /// <summary>The difference, or a refusal: disks never shrink, the boot disk stays, vCPUs stay within the maximum fixed at boot.</summary>
    public static HardwareDiff Between(VmSpec current, VmSpec wanted)
    {
        if (wanted.MaxVCpus != current.MaxVCpus)
        {
            throw new InvalidOperationException($"The vCPU maximum is fixed when the VM is created ({current.MaxVCpus}).");
        }

        if (wanted.Disks.Count == 0 || wanted.Disks[0].Id != current.Disks[0].Id)
        {
            throw new InvalidOperationException("The boot disk cannot be removed.");
        }

        var grown = new List<(DiskSpec, DiskSpec)>();
        foreach (var disk in wanted.Disks)
        {
            if (current.Disks.FirstOrDefault(d => d.Id == disk.Id) is { } was)
            {
                if (disk.SizeBytes < was.SizeBytes)
                {
                    throw new InvalidOperationException(
                        $"Disk {disk.Id} cannot shrink from {was.SizeBytes} to {disk.SizeBytes} bytes: the guest's file systems would lose their ends.");
                }

                if (disk.SizeBytes > was.SizeBytes)
                {
                    grown.Add((was, disk));
                }
            }
        }

        return new HardwareDiff(
            [.. wanted.Disks.Where(d => current.Disks.All(c => c.Id != d.Id))],
            [.. current.Disks.Where(c => wanted.Disks.All(d => d.Id != c.Id))],
            grown,
            [.. wanted.Nics.Where(n => current.Nics.All(c => c.Id != n.Id))],
            [.. current.Nics.Where(c => wanted.Nics.All(n => n.Id != c.Id))],
            wanted.VCpus - current.VCpus);
    }
}
