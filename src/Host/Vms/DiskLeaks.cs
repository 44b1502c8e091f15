using Paddock.Engine.Images;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>
/// A snapshot job of a running VM that fails half-way (the disk full, QEMU killed) leaves the
/// clusters QEMU had allocated for the memory state in the qcow2, counted but unused: space the
/// guest can never get back. The failure is marked in the VM's directory (<see cref="VmPaths.LeakCheckMarker"/>),
/// and the disks are freed of them (<c>qemu-img check -r leaks</c>) before QEMU next opens them,
/// which is the first moment nothing else writes them.
/// </summary>
public sealed class DiskLeaks(VmFiles files, ILogger<DiskLeaks> log)
{
    /// <summary>Marks the VM's disks for a check at its next start; the failure that called for it stays the caller's to report.</summary>
    public async Task MarkAsync(VmRuntime vm)
    {
        try
        {
            await RunDirectory.WriteAtomicallyAsync(vm.Paths.LeakCheckMarker, DateTimeOffset.UtcNow.ToString("O"), CancellationToken.None);
        }
        catch (IOException e)
        {
            // A full disk may refuse even this: the leaks then stay until a later failure marks them.
            log.LogWarning("VM {Vm}: could not mark its disks for a leak check: {Message}", vm.Id, e.Message);
        }
    }

    /// <summary>
    /// Frees the leaked clusters of each disk of the stopped VM if it is marked, and says how many.
    /// A check that fails is logged and the VM starts all the same; the mark stays for the next start.
    /// </summary>
    public async Task RepairAsync(VmRuntime vm, VmSpec spec, CancellationToken ct)
    {
        if (!File.Exists(vm.Paths.LeakCheckMarker))
        {
            return;
        }

        try
        {
            foreach (var disk in spec.Disks)
            {
                var freed = await files.DisksOf(spec).RepairLeaksAsync(vm.Paths.Disk(disk.Id), disk.SizeBytes, ct);
                log.LogInformation("VM {Vm}: freed {Clusters} leaked clusters in disk {Disk} (a snapshot had failed half-way)", vm.Id, freed, disk.Id);
            }

            File.Delete(vm.Paths.LeakCheckMarker);
        }
        catch (Exception e) when (e is QemuImgException or TimeoutException or IOException)
        {
            log.LogWarning("VM {Vm}: checking its disks for leaked clusters failed; it starts all the same: {Message}", vm.Id, e.Message);
        }
    }
}
