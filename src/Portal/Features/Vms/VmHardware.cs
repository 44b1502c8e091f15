using System.Security.Cryptography;
using Paddock.Engine.Vms;

namespace Paddock.Portal.Features.Vms;

/// <summary>A disk added to a VM after it was created (the boot disk is the VM's own fields).</summary>
public sealed record VmDisk(string Id, long SizeBytes);

/// <summary>A NIC beside the VM's first one (whose MAC and network are the VM's own fields); <paramref name="Network"/> null: isolated user-mode NAT.</summary>
public sealed record VmNic(string Id, string Mac, Paddock.Engine.Networks.NicNetwork? Network = null);

public enum HardwareAction
{
    AddDisk,
    RemoveDisk,
    GrowDisk,
    AddNic,
    RemoveNic,
    SetVCpus,

    /// <summary>How big the guest should be through its balloon (<see cref="HardwareChange.SizeMiB"/>; null for all its memory). Admins only.</summary>
    SetBalloon,
}

/// <summary>One change to a VM's hardware: <paramref name="Device"/> names the disk or NIC, <paramref name="SizeMiB"/> a disk's (new) size, <paramref name="VCpus"/> the vCPU count.</summary>
/// <remarks>An added NIC goes on <paramref name="NetworkId"/>, on the owner's default network when none is named, or on isolated user-mode NAT when <paramref name="Isolated"/>.</remarks>
public sealed record HardwareChange(HardwareAction Action, string? Device = null, int? SizeMiB = null, int? VCpus = null, Guid? NetworkId = null, bool Isolated = false);

/// <summary>What a hardware change makes of a VM's spec, or why it cannot be: a pure function.</summary>
public static class VmHardware
{
    public const int MaxAddedDiskMiB = 64 * 1024;

    /// <summary>The vCPU maximum fixed at creation: hot-added vCPUs fit under it.</summary>
    public static int MaxVCpusOf(Vm vm) => Math.Max(vm.VCpus, 4);

    /// <summary>The spec after <paramref name="change"/>, or a refusal a person can read (<see cref="RefusedException"/> with the field at fault).</summary>
    public static VmSpec Apply(Vm vm, VmSpec spec, HardwareChange change)
    {
        var running = vm.Status is VmStatus.Running or VmStatus.Paused;
        return change.Action switch
        {
            HardwareAction.AddDisk => AddDisk(spec, change),
            HardwareAction.RemoveDisk => RemoveDisk(spec, change),
            HardwareAction.GrowDisk => GrowDisk(spec, change),
            HardwareAction.AddNic => AddNic(spec),
            HardwareAction.RemoveNic => RemoveNic(spec, change),
            HardwareAction.SetVCpus => SetVCpus(spec, change, running),
            HardwareAction.SetBalloon => SetBalloon(vm, spec, change, running),
            _ => throw new RefusedException("Action: addDisk, removeDisk, growDisk, addNic, removeNic or setVCpus.", "action"),
        };
    }

    private static VmSpec AddDisk(VmSpec spec, HardwareChange change)
    {
        var size = Size(change.SizeMiB, 1, "size", MaxAddedDiskMiB);
        if (spec.Disks.Count >= VmSpecValidator.MaxDisks)
        {
            throw new RefusedException($"Disks: at most {VmSpecValidator.MaxDisks} per VM.", "device");
        }

        var id = FreeId("disk", spec.Disks.Select(d => d.Id));
        return spec with { Disks = [.. spec.Disks, new DiskSpec(id, size, null)] };
    }

    private static VmSpec RemoveDisk(VmSpec spec, HardwareChange change)
    {
        var removed = Disk(spec, change.Device);
        if (removed.Id == spec.Disks[0].Id)
        {
            throw new RefusedException("The boot disk cannot be removed.", "device");
        }

        return spec with { Disks = [.. spec.Disks.Where(d => d.Id != removed.Id)] };
    }

    private static VmSpec GrowDisk(VmSpec spec, HardwareChange change)
    {
        var disk = Disk(spec, change.Device);
        var grown = Size(change.SizeMiB, 1, "size");
        if (grown <= disk.SizeBytes)
        {
            throw new RefusedException(
                $"Size: {disk.Id} has {disk.SizeBytes / (1024 * 1024)} MiB; it can only grow (shrinking would cut off the end of the guest's file systems).", "size");
        }

        return spec with { Disks = [.. spec.Disks.Select(d => d.Id == disk.Id ? d with { SizeBytes = grown } : d)] };
    }

    private static VmSpec AddNic(VmSpec spec)
    {
        if (spec.Nics.Count >= VmSpecValidator.MaxNics)
        {
            throw new RefusedException($"NICs: at most {VmSpecValidator.MaxNics} per VM.", "device");
        }

        return spec with { Nics = [.. spec.Nics, new NicSpec(FreeId("net", spec.Nics.Select(n => n.Id)), RandomMac())] };
    }

    private static VmSpec RemoveNic(VmSpec spec, HardwareChange change)
    {
        var nic = spec.Nics.FirstOrDefault(n => n.Id == change.Device) ?? throw new RefusedException($"NIC: the VM has no NIC '{change.Device}'.", "device");
        return spec with { Nics = [.. spec.Nics.Where(n => n.Id != nic.Id)] };
    }

    private static VmSpec SetVCpus(VmSpec spec, HardwareChange change, bool running)
    {
        var vcpus = change.VCpus ?? throw new RefusedException("vCPUs: give the number.", "vcpus");
        if (vcpus < 1 || vcpus > spec.MaxVCpus)
        {
            throw new RefusedException($"vCPUs: between 1 and {spec.MaxVCpus} (the maximum fixed when the VM was created).", "vcpus");
        }

        if (running && vcpus < spec.VCpus)
        {
            throw new RefusedException($"vCPUs: a running VM only gains vCPUs; power it off to go from {spec.VCpus} to {vcpus}.", "vcpus");
        }

        return spec with { VCpus = vcpus };
    }

    private static VmSpec SetBalloon(Vm vm, VmSpec spec, HardwareChange change, bool running)
    {
        var floor = spec.Limits.BalloonFloorMiB ?? VmSizes.MinMemoryMiB;
        if (change.SizeMiB is { } target && (target < floor || target > spec.MemoryMiB))
        {
            throw new RefusedException(
                $"Balloon: between {floor} MiB (the {(spec.Limits.BalloonFloorMiB is null ? "smallest VM" : "flavor's floor")}) and the VM's {spec.MemoryMiB} MiB.", "balloon");
        }

        if (!running)
        {
            throw new RefusedException($"Balloon: the VM must be running; it is {VmRules.Describe(vm.Status)}.", "balloon");
        }

        return spec with { BalloonTargetMiB = change.SizeMiB == spec.MemoryMiB ? null : change.SizeMiB };
    }

    private static DiskSpec Disk(VmSpec spec, string? id) =>
        spec.Disks.FirstOrDefault(d => d.Id == id) ?? throw new RefusedException($"Disk: the VM has no disk '{id}'.", "device");

    private static long Size(int? mib, int min, string field, int max = VmSizes.MaxDiskMiB) =>
        mib is { } value && value >= min && value <= max
            ? value * 1024L * 1024
            : throw new RefusedException($"Size: between {min} and {max} MiB.", field);

    private static string FreeId(string prefix, IEnumerable<string> taken)
    {
        var used = taken.ToHashSet();
        return Enumerable.Range(1, 64).Select(i => $"{prefix}{i}").First(id => !used.Contains(id));
    }

    /// <summary>52:54:00 is QEMU's locally administered prefix.</summary>
    public static string RandomMac()
    {
        var b = RandomNumberGenerator.GetBytes(3);
        return $"52:54:00:{b[0]:x2}:{b[1]:x2}:{b[2]:x2}";
    }
}
