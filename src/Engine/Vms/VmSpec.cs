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

    /// <summary>Noisy-neighbour limits (a flavor's): CPU weight and cap, disk I/O, the balloon's floor.</summary>
    public ResourceLimits Limits { get; init; } = ResourceLimits.None;

    /// <summary>How big the guest should be, through its virtio balloon; null for all of <see cref="MemoryMiB"/>.</summary>
    public int? BalloonTargetMiB { get; init; }

    /// <summary>
    /// The VM's label across the fleet (<c>s0:cA,cB</c>), which <see cref="Uid"/> is derived from:
    /// the SELinux categories of its process and files where SELinux enforces. The agent keeps it
    /// with the spec and reports it back, so a record changed behind the portal's back shows.
    /// </summary>
    public string? Label { get; init; }

    /// <summary>The guest's cloud-init setup, given to it on a NoCloud seed (<see cref="VmPaths.Seed"/>), a read-only disk of its own; null for none.</summary>
    public Guests.CloudInitConfig? CloudInit { get; init; }

    /// <summary>Whether the guest runs the QEMU guest agent: the VM gets its virtio-serial channel (<see cref="VmPaths.GuestAgentSocket"/>).</summary>
    public bool GuestAgent { get; init; }

    /// <summary>The PCIe root port of the virtio balloon once the agent has placed it (see <see cref="Qemu.DeviceLayout"/>).</summary>
    public string? BalloonPort { get; init; }
}

/// <summary>
/// Limits that keep one VM from crowding the others on its host: a CPU weight (cgroup cpu.weight,
/// 1-10000, 100 is everyone's default) and cap (per cent of one CPU), disk I/O limits for all its
/// disks together (a QEMU throttle group), and the smallest size its balloon may shrink it to.
/// </summary>
public sealed record ResourceLimits(
    int? CpuWeight = null, int? CpuLimitPercent = null, long? DiskIops = null, long? DiskBytesPerSecond = null, int? BalloonFloorMiB = null)
{
    public static readonly ResourceLimits None = new();

    public bool HasCpu => CpuWeight is not null || CpuLimitPercent is not null;

    public bool HasDisk => DiskIops is not null || DiskBytesPerSecond is not null;

    /// <summary>What is wrong with these limits, or null.</summary>
    public string? Problem() =>
        CpuWeight is < 1 or > 10000 ? "CPU weight: between 1 and 10000 (100 is the default)."
        : CpuLimitPercent is < 1 or > 100 * 1024 ? "CPU limit: 1 per cent of one CPU or more."
        : DiskIops is < 10 ? "Disk IOPS: at least 10."
        : DiskBytesPerSecond is < 1024 * 1024 ? "Disk bandwidth: at least 1 MiB/s (less makes guests time out)."
        : BalloonFloorMiB is < 64 ? "Balloon floor: at least 64 MiB."
        : null;
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
public sealed record DiskSpec(string Id, long SizeBytes, string? BaseImage)
{
    /// <summary>The PCIe root port (<c>rpN</c>) the disk sits in once its agent has placed it; null until then (see <see cref="Qemu.DeviceLayout"/>).</summary>
    public string? Port { get; init; }
}

/// <summary>A NIC: on a tenant network (<see cref="Network"/>), or, when that is null, on QEMU's isolated user-mode NAT (internet only, no reach into the host).</summary>
public sealed record NicSpec(string Id, string Mac)
{
    public Networks.NicNetwork? Network { get; init; }

    /// <summary>The PCIe root port (<c>rpN</c>) the NIC sits in once its agent has placed it; null until then (see <see cref="Qemu.DeviceLayout"/>).</summary>
    public string? Port { get; init; }
}
