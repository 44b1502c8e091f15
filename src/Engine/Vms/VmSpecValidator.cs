using System.Text.RegularExpressions;
using Paddock.Engine.Images;

namespace Paddock.Engine.Vms;

/// <summary>
/// Refuses a <see cref="VmSpec"/> that QEMU would reject or no host should run, before any file
/// is created or process started. Each refusal names the field and what is allowed.
/// </summary>
public static partial class VmSpecValidator
{
    public const int MaxVCpus = 64;
    public const int MinShutdownTimeoutSeconds = 1;
    public const int MaxShutdownTimeoutSeconds = 3600;
    public const int MaxRestartsPerHour = 60;
    public const int MinMemoryMiB = 64;
    public const int MaxMemoryMiB = 262_144;
    public const long MaxDiskBytes = 16L << 40;
    public const int MaxDisks = 4;
    public const int MaxNics = 2;
    /// <summary>The q35 AHCI controller has six ports (ide.0 to ide.5).</summary>
    public const int MaxCdroms = 2;

    /// <summary>The cloud-init seed's drive (<see cref="VmSpec.CloudInit"/>): no disk or CD-ROM drive may take its id.</summary>
    public const string SeedDriveId = "cidata";

    /// <summary>
    /// QEMU keeps a block node name in <c>char node_name[32]</c> (include/block/block_int-common.h,
    /// "Node name too long" past 31 chars): the file node is <c>file-&lt;id&gt;</c>, so a disk id
    /// gets 26 of the 31 characters the general id pattern would allow.
    /// </summary>
    public const int MaxDiskIdLength = 31 - 5;

    /// <summary>Throws <see cref="InvalidVmSpecException"/> for the first problem found.</summary>
    public static void Validate(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ValidateMachine(spec);
        ValidateLifecycle(spec);
        var driveIds = ValidateDisks(spec);
        ValidateNics(spec);
        ValidateCdroms(spec, driveIds);
        ValidateBootOrder(spec);
        ValidatePorts(spec);
        ValidateCloudInit(spec);
    }

    /// <summary>The cloud-init setup, by its own rules (<see cref="Guests.CloudInitRules"/>).</summary>
    private static void ValidateCloudInit(VmSpec spec)
    {
        try
        {
            if (spec.CloudInit is { } config)
                Guests.CloudInitRules.Check(config);
        }
        catch (Guests.InvalidCloudInitException e)
        {
            throw Invalid($"CloudInit.{e.Field}", e.Message);
        }
    }

    /// <summary>Recorded root ports are <c>rpN</c> (they reach QEMU's command line as they are), each held by one device.</summary>
    private static void ValidatePorts(VmSpec spec)
    {
        var held = new HashSet<string>(StringComparer.Ordinal);
        var ports = spec.Disks.Select((d, i) => ($"Disks[{i}].Port", d.Port))
            .Concat(spec.Nics.Select((n, i) => ($"Nics[{i}].Port", n.Port)))
            .Append(("BalloonPort", spec.BalloonPort));
        foreach (var (field, port) in ports)
        {
            if (port is null)
                continue;
            if (!RootPortPattern().IsMatch(port))
                throw Invalid(field, $"{field} must be a root port such as rp3 (was '{port}')");
            if (!held.Add(port))
                throw Invalid(field, $"{field} '{port}' is held by another device");
        }
    }

    /// <summary>Id, vCPUs, memory, machine type and uid.</summary>
    private static void ValidateMachine(VmSpec spec)
    {
        if (spec.Id == Guid.Empty)
            throw Invalid("Id", "Id must not be the empty GUID");
        if (spec.VCpus is < 1 or > MaxVCpus)
            throw Invalid("VCpus", $"VCpus must be between 1 and {MaxVCpus} (was {spec.VCpus})");
        if (spec.MaxVCpus < spec.VCpus || spec.MaxVCpus > MaxVCpus)
            throw Invalid("MaxVCpus", $"MaxVCpus must be between VCpus ({spec.VCpus}) and {MaxVCpus} (was {spec.MaxVCpus})");
        if (spec.MemoryMiB is < MinMemoryMiB or > MaxMemoryMiB)
            throw Invalid("MemoryMiB", $"MemoryMiB must be between {MinMemoryMiB} and {MaxMemoryMiB} (was {spec.MemoryMiB})");
        if (spec.MachineType is null || !MachineTypePattern().IsMatch(spec.MachineType))
        {
            throw Invalid("MachineType",
                $"MachineType must be a versioned q35 type such as '{VmSpec.DefaultMachineType}': every device sits on a PCIe root port of q35's pcie.0 " +
                $"(pattern ^pc-q35-N.N$, was '{Printable(spec.MachineType)}')");
        }

        if (spec.Uid <= 0)
            throw Invalid("Uid", $"Uid must be greater than 0 (was {spec.Uid}); QEMU never runs as root");
    }

    /// <summary>How long a shutdown waits, and when the agent restarts a crashed VM.</summary>
    private static void ValidateLifecycle(VmSpec spec)
    {
        if (spec.ShutdownTimeoutSeconds is < MinShutdownTimeoutSeconds or > MaxShutdownTimeoutSeconds)
        {
            throw Invalid("ShutdownTimeoutSeconds",
                $"ShutdownTimeoutSeconds must be between {MinShutdownTimeoutSeconds} and {MaxShutdownTimeoutSeconds} (was {spec.ShutdownTimeoutSeconds})");
        }

        if (!Enum.IsDefined(spec.Restart))
            throw Invalid("Restart", $"Restart must be Never or OnCrash (was {(int)spec.Restart})");
        if (spec.MaxRestartsPerHour is < 1 or > MaxRestartsPerHour)
            throw Invalid("MaxRestartsPerHour", $"MaxRestartsPerHour must be between 1 and {MaxRestartsPerHour} (was {spec.MaxRestartsPerHour})");
    }

    /// <summary>The disks; returns their ids, which the CD-ROM drives must not take again.</summary>
    private static HashSet<string> ValidateDisks(VmSpec spec)
    {
        if (spec.Disks is null || spec.Disks.Count is < 1 or > MaxDisks)
            throw Invalid("Disks", $"Disks must hold between 1 and {MaxDisks} disks (was {spec.Disks?.Count ?? 0})");
        var diskIds = new HashSet<string>(StringComparer.Ordinal) { SeedDriveId };
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            var disk = spec.Disks[i] ?? throw Invalid($"Disks[{i}]", $"Disks[{i}] must not be null");
            CheckId($"Disks[{i}].Id", disk.Id, MaxDiskIdLength);
            // "file-x" would take the node name of disk "x"'s file layer.
            if (disk.Id.StartsWith("file-", StringComparison.Ordinal))
                throw Invalid($"Disks[{i}].Id", $"Disks[{i}].Id must not start with 'file-' (reserved for file nodes, was '{disk.Id}')");
            if (!diskIds.Add(disk.Id))
                throw Invalid($"Disks[{i}].Id", $"Disks[{i}].Id '{disk.Id}' is reserved or used by another disk");
            // qcow2 sizes are whole 512-byte sectors (qemu-img: "Image size must be a multiple of 512 bytes").
            if (disk.SizeBytes <= 0 || disk.SizeBytes > MaxDiskBytes || disk.SizeBytes % 512 != 0)
            {
                throw Invalid($"Disks[{i}].SizeBytes",
                    $"Disks[{i}].SizeBytes must be a multiple of 512 between 512 and {MaxDiskBytes} (16 TiB) (was {disk.SizeBytes})");
            }

            if (disk.BaseImage is not null && ImageStore.WhyInvalid(disk.BaseImage) is { } why)
                throw Invalid($"Disks[{i}].BaseImage", $"Disks[{i}].BaseImage {why}");
        }
        return diskIds;
    }

    /// <summary>The NICs: ids and MAC addresses, each unique, every MAC a unicast one.</summary>
    private static void ValidateNics(VmSpec spec)
    {
        if (spec.Nics is null || spec.Nics.Count > MaxNics)
            throw Invalid("Nics", $"Nics must hold between 0 and {MaxNics} NICs (was {spec.Nics?.Count.ToString() ?? "null"})");
        var nicIds = new HashSet<string>(StringComparer.Ordinal);
        var macs = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < spec.Nics.Count; i++)
        {
            var nic = spec.Nics[i] ?? throw Invalid($"Nics[{i}]", $"Nics[{i}] must not be null");
            CheckId($"Nics[{i}].Id", nic.Id, 31);
            if (!nicIds.Add(nic.Id))
                throw Invalid($"Nics[{i}].Id", $"Nics[{i}].Id '{nic.Id}' is used by another NIC");
            if (nic.Mac is null || !MacPattern().IsMatch(nic.Mac))
            {
                throw Invalid($"Nics[{i}].Mac",
                    $"Nics[{i}].Mac must be six hex octets separated by ':' such as 52:54:00:12:34:56 (was '{Printable(nic.Mac)}')");
            }
            // Bit 0 of the first octet marks a multicast address, which no NIC may own (IEEE 802).
            if ((Convert.ToByte(nic.Mac[..2], 16) & 1) != 0 || nic.Mac == "00:00:00:00:00:00")
                throw Invalid($"Nics[{i}].Mac", $"Nics[{i}].Mac must be a unicast, non-zero address (was '{nic.Mac}')");
            if (!macs.Add(nic.Mac))
                throw Invalid($"Nics[{i}].Mac", $"Nics[{i}].Mac '{nic.Mac}' is used by another NIC");
        }
    }

    /// <summary>The CD-ROM drives, whose ids share one namespace with <paramref name="driveIds"/> (the disks').</summary>
    private static void ValidateCdroms(VmSpec spec, HashSet<string> driveIds)
    {
        if (spec.Cdroms is null || spec.Cdroms.Count > MaxCdroms)
            throw Invalid("Cdroms", $"Cdroms must hold between 0 and {MaxCdroms} drives (was {spec.Cdroms?.Count.ToString() ?? "null"})");
        for (var i = 0; i < spec.Cdroms.Count; i++)
        {
            var cdrom = spec.Cdroms[i] ?? throw Invalid($"Cdroms[{i}]", $"Cdroms[{i}] must not be null");
            CheckId($"Cdroms[{i}].Id", cdrom.Id, MaxDiskIdLength);
            if (cdrom.Id.StartsWith("file-", StringComparison.Ordinal) || !driveIds.Add(cdrom.Id))
                throw Invalid($"Cdroms[{i}].Id", $"Cdroms[{i}].Id '{cdrom.Id}' is reserved or used by another drive");
            if (cdrom.Image is not null && ImageStore.WhyInvalid(cdrom.Image) is { } why)
                throw Invalid($"Cdroms[{i}].Image", $"Cdroms[{i}].Image {why}");
        }
    }

    /// <summary>The boot order, which may only name devices the VM has (checked after them).</summary>
    private static void ValidateBootOrder(VmSpec spec)
    {
        if (spec.BootOrder is null || spec.BootOrder.Count is < 1 or > 3
            || spec.BootOrder.Distinct().Count() != spec.BootOrder.Count || !spec.BootOrder.All(Enum.IsDefined))
        {
            throw Invalid("BootOrder", "BootOrder must list Disk, Cdrom and Network at most once each, at least one of them");
        }

        if (spec.BootOrder.Contains(BootDevice.Cdrom) && spec.Cdroms.Count == 0)
            throw Invalid("BootOrder", "BootOrder names Cdrom but the VM has no CD-ROM drive");
        if (spec.BootOrder.Contains(BootDevice.Network) && spec.Nics.Count == 0)
            throw Invalid("BootOrder", "BootOrder names Network but the VM has no NIC");
    }

    /// <summary>Whether <paramref name="id"/> is a well-formed disk or NIC id (<c>^[a-z][a-z0-9-]{0,30}$</c>).</summary>
    public static bool IsWellFormedId(string? id) => id is not null && IdPattern().IsMatch(id);

    private static void CheckId(string field, string? id, int maxLength)
    {
        if (!IsWellFormedId(id) || id!.Length > maxLength)
            throw Invalid(field, $"{field} must match ^[a-z][a-z0-9-]*$ with 1 to {maxLength} characters (was '{Printable(id)}')");
    }

    private static InvalidVmSpecException Invalid(string field, string message) => new(field, message);

    // Values are echoed into messages a person reads: keep control characters out.
    private static string Printable(string? value) =>
        value is null ? "null" : string.Concat(value.Take(64).Select(c => char.IsControl(c) ? '?' : c));

    // \z, not $: in .NET "$" also matches before a trailing "\n", which must never reach QEMU.
    // [0-9], not \d: \d matches every Unicode digit.
    [GeneratedRegex(@"^pc-q35-[0-9]+\.[0-9]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex MachineTypePattern();

    [GeneratedRegex(@"^rp[0-9]{1,2}\z", RegexOptions.CultureInvariant)]
    private static partial Regex RootPortPattern();

    [GeneratedRegex(@"^[a-z][a-z0-9-]{0,30}\z", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\z", RegexOptions.CultureInvariant)]
    private static partial Regex MacPattern();
}
