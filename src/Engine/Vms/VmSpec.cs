namespace Paddock.Engine.Vms;

/// <summary>
/// What is wanted of a VM, as the portal decided it. Display names never appear here: QEMU only
/// ever sees the VM's id.
/// </summary>
public sealed record VmSpec(
    Guid Id,
    int VCpus,
    int MaxVCpus,
    int MemoryMiB,
    string MachineType,
    int Uid,
    IReadOnlyList<DiskSpec> Disks,
    IReadOnlyList<NicSpec> Nics)
{
    public const string DefaultMachineType = "pc-q35-7.2";

    /// <summary>How long Shutdown and Reboot wait for the guest before they power off or reset.</summary>
    public int ShutdownTimeoutSeconds { get; init; } = 60;

    /// <summary>What the agent does, on its own, when QEMU ends without being asked to.</summary>
    public RestartPolicy Restart { get; init; } = RestartPolicy.Never;

    /// <summary>With <see cref="RestartPolicy.OnCrash"/>: at most this many restarts in any hour.</summary>
    public int MaxRestartsPerHour { get; init; } = 3;

    /// <summary>CD-ROM drives (IDE on the q35 AHCI controller), each empty or holding an ISO from the image store.</summary>
    public IReadOnlyList<CdromSpec> Cdroms { get; init; } = [];

    /// <summary>What the firmware tries, in order: the first disk, the first CD-ROM drive, the first NIC.</summary>
    public IReadOnlyList<BootDevice> BootOrder { get; init; } = [BootDevice.Disk];
}

public enum BootDevice
{
    Disk,
    Cdrom,
    Network,
}

/// <summary>A CD-ROM drive; <paramref name="Image"/> is an ISO's file name in the host's image store, or null when the drive is empty.</summary>
public sealed record CdromSpec(string Id, string? Image);

public enum RestartPolicy
{
    Never,
    OnCrash,
}

/// <summary>A disk: a qcow2 overlay on <paramref name="BaseImage"/> (a file name in the host's image store) or a blank disk.</summary>
public sealed record DiskSpec(string Id, long SizeBytes, string? BaseImage);

public sealed record NicSpec(string Id, string Mac);
