using System.Text;

namespace Paddock.Engine.Vms;

/// <summary>
/// Every file of one VM, inside its run directory: the agent's files directly in it, QEMU's
/// pidfile and the sockets QEMU listens on in <see cref="QemuDirectory"/> (see <see cref="Vms.RunDirectory"/>
/// for who owns what, and why).
/// </summary>
public sealed record VmPaths
{
    /// <summary>
    /// <c>sun_path</c> is 108 bytes including the terminating NUL (unix(7)); QEMU refuses a longer
    /// socket path ("UNIX socket path ... is too long"), so the run directory must leave room.
    /// </summary>
    public const int MaxSocketPathBytes = 107;

    public VmPaths(string runDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(runDirectory);
        if (!Path.IsPathFullyQualified(runDirectory))
            throw new ArgumentException($"The run directory must be an absolute path (was '{runDirectory}').", nameof(runDirectory));
        if (runDirectory.Contains('\0') || runDirectory.Contains('\n') || runDirectory.Contains('\r'))
            throw new ArgumentException("The run directory must not contain NUL or line breaks.", nameof(runDirectory));

        RunDirectory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDirectory));
        var socket = new[] { QmpSocket, TestMonitorSocket, VncSocket, SerialSocket, GuestAgentSocket, SaveSocket, RestoreSocket, MigrationDisksSocket, MigrationMemorySocket, IncomingDisksSocket, IncomingMemorySocket }.MaxBy(Encoding.UTF8.GetByteCount)!;
        var longest = Encoding.UTF8.GetByteCount(socket);
        if (longest > MaxSocketPathBytes)
        {
            throw new ArgumentException(
                $"The run directory '{RunDirectory}' is too long for unix sockets: '{socket}' takes {longest} bytes, at most {MaxSocketPathBytes} fit.",
                nameof(runDirectory));
        }
    }

    /// <summary>The run directory of VM <paramref name="vmId"/> under <paramref name="runRoot"/>: <c>{runRoot}/{vmId}</c>.</summary>
    public static VmPaths For(string runRoot, Guid vmId) => new(Path.Combine(runRoot, vmId.ToString("D")));

    public string RunDirectory { get; }

    /// <summary>The VM's uid's own directory inside the run directory: QEMU's pidfile and listening sockets.</summary>
    public string QemuDirectory => Combine("qemu");

    public string QmpSocket => InQemu("qmp.sock");

    /// <summary>The second monitor only tests enable (<c>Agent:TestMonitor</c>).</summary>
    public string TestMonitorSocket => InQemu("qmp-test.sock");

    public string VncSocket => InQemu("vnc.sock");

    public string SerialSocket => InQemu("serial.sock");

    public string SerialLog => Combine("serial.log");

    /// <summary>The QEMU guest agent's channel (virtio-serial <c>org.qemu.guest_agent.0</c>): QEMU listens, the host agent connects.</summary>
    public string GuestAgentSocket => InQemu("qga.sock");

    /// <summary>The cloud-init NoCloud seed (an ISO 9660 image labelled <c>cidata</c>), made by the agent before each start and read by QEMU.</summary>
    public string Seed => Combine("seed.iso");

    /// <summary>The serial log's previous part: the tail kept when <see cref="SerialLog"/> was last rotated (the agent's, 0600).</summary>
    public string SerialLogPrevious => Combine("serial.log.1");

    /// <summary>How many bytes of serial output rotation has dropped in all (the agent's, 0600; missing: none).</summary>
    public string SerialLogDropped => Combine("serial.log.dropped");

    public string PidFile => InQemu("qemu.pid");

    public string Stdout => Combine("qemu.stdout");

    public string Stderr => Combine("qemu.stderr");

    public string SpecFile => Combine("spec.json");

    /// <summary>The whole running state written by Save and read by Restore.</summary>
    public string StateFile => Combine("state.sav");

    /// <summary>Where QEMU streams its state to the agent during Save (the agent listens).</summary>
    public string SaveSocket => Combine("save.sock");

    /// <summary>Where QEMU listens for its saved state during Restore (the agent sends).</summary>
    public string RestoreSocket => InQemu("restore.sock");

    /// <summary>
    /// There while the VM is a migration's destination and its guest has not run here yet (the
    /// agent's): its QEMU's end is then no crash, and nothing starts it again.
    /// </summary>
    public string IncomingMarker => Combine("incoming");

    /// <summary>
    /// There once a snapshot job of the running VM failed (the agent's): its disks may hold clusters
    /// QEMU allocated for the snapshot and nothing refers to, freed before QEMU next opens them.
    /// </summary>
    public string LeakCheckMarker => Combine("check-leaks");

    /// <summary>Where a migrating VM's QEMU connects for its disks' mirrors (NBD): the source's agent listens and relays.</summary>
    public string MigrationDisksSocket => Combine("out-disks.sock");

    /// <summary>Where a migrating VM's QEMU sends its memory and device state: the source's agent listens and relays.</summary>
    public string MigrationMemorySocket => Combine("out-memory.sock");

    /// <summary>Where the destination's QEMU serves the incoming disks (NBD); its agent connects to it.</summary>
    public string IncomingDisksSocket => InQemu("in-disks.sock");

    /// <summary>Where the destination's QEMU awaits the incoming memory and device state; its agent connects to it.</summary>
    public string IncomingMemorySocket => InQemu("in-mem.sock");

    /// <summary><c>disk-{id}.qcow2</c>; the id must be well formed, so it can never climb out of the run directory.</summary>
    public string Disk(string diskId)
    {
        if (!VmSpecValidator.IsWellFormedId(diskId))
            throw new ArgumentException($"'{diskId}' is not a well-formed disk id.", nameof(diskId));
        return Combine($"disk-{diskId}.qcow2");
    }

    private string Combine(string name) => Path.Join(RunDirectory, name);

    private string InQemu(string name) => Path.Join(RunDirectory, "qemu", name);
}
