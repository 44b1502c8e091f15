using Paddock.Engine.Vms;

namespace Paddock.Engine.Contract;

public enum VmVerb
{
    /// <summary>Prepare the run directory and disks; boot at once when <see cref="VmCommand.StartAfterCreate"/>.</summary>
    Create,
    Start,
    /// <summary>Ask the guest (ACPI power button).</summary>
    Shutdown,
    /// <summary>Pull the plug.</summary>
    PowerOff,
    /// <summary>Stop QEMU if it runs and remove every file of the VM.</summary>
    Delete,
    /// <summary>Ask the guest to restart (Ctrl-Alt-Del); reset after the shutdown timeout.</summary>
    Reboot,
    /// <summary>Press the reset button at once.</summary>
    Reset,
    /// <summary>Stop the vCPUs; memory is kept.</summary>
    Pause,
    Resume,
    /// <summary>Press <see cref="VmCommand.Keys"/> together and release them (QEMU qcodes).</summary>
    SendKeys,
    /// <summary>Write the whole running state to the VM's directory and end QEMU (hibernate).</summary>
    Save,
    /// <summary>Start QEMU from the saved state: the guest goes on where it was.</summary>
    Restore,
    /// <summary>
    /// Take snapshot <see cref="VmCommand.Snapshot"/>: with RAM when running (QEMU's snapshot-save
    /// job), of the disks when stopped (qemu-img).
    /// </summary>
    Snapshot,
    /// <summary>Go back to snapshot <see cref="VmCommand.Snapshot"/>; what happened since is lost.</summary>
    RevertSnapshot,
    DeleteSnapshot,
    /// <summary>Replace the agent's copy of the spec (settings such as the restart policy); takes effect at once or at the next start.</summary>
    Configure,
    /// <summary>
    /// Flatten the stopped VM's disk into a standalone image named by its SHA-256 in the host's image
    /// store, hand it to the portal's library (so every host can fetch it), then remove the VM.
    /// </summary>
    ConvertToTemplate,
    /// <summary>
    /// Put ISO <see cref="VmCommand.Image"/> into the VM's first CD-ROM drive, or eject it when null;
    /// at once when running, kept for the next boot.
    /// </summary>
    ChangeMedium,
    /// <summary>
    /// Make the VM's hardware what <see cref="VmCommand.Spec"/> says: disks and NICs added or removed,
    /// disks grown, vCPUs added. Hot when QEMU runs (hotplug through QMP), otherwise at the next boot;
    /// either way the spec is kept.
    /// </summary>
    ChangeHardware,
    /// <summary>
    /// Live migration, the destination's first step: make the VM's run directory and blank disks (a
    /// linked clone's overlay on its base, fetched by checksum), start its QEMU waiting for the
    /// stream, paused, and dial the channels of <see cref="VmCommand.Migration"/> to the portal.
    /// </summary>
    MigrateIn,
    /// <summary>
    /// Live migration, the source's step: mirror the disks and move the memory through the channels of
    /// <see cref="VmCommand.Migration"/>; leaves the guest stopped here, whole on the destination.
    /// </summary>
    MigrateOut,
    /// <summary>Live migration, the destination's last step: run the guest that arrived.</summary>
    FinishMigration,
    /// <summary>
    /// Live migration called off on the source: a move under way is cancelled, a guest it left stopped
    /// runs again. The VM runs here afterwards, as before the migration.
    /// </summary>
    CancelMigration,
    /// <summary>
    /// Types <see cref="VmCommand.Text"/> into the VM's keyboard as key presses on the layout
    /// <see cref="VmCommand.Layout"/>, a few dozen characters a second; ends when all is typed or StopTyping stops it.
    /// </summary>
    TypeText,
    /// <summary>Stops whatever the VM is being typed (TypeText), at once.</summary>
    StopTyping,
    /// <summary>
    /// Sets the password of guest user <see cref="VmCommand.User"/> through the VM's QEMU guest agent,
    /// to the SHA-512 crypt hash <see cref="VmCommand.Text"/> (the clear password never leaves the portal).
    /// </summary>
    SetGuestPassword,
}

/// <summary>
/// The migration a command belongs to: its channels meet at the portal's
/// <c>/migration/agent/{Token}/{channel}</c>; <paramref name="Channels"/> is how many disk channels the destination opens;
/// <paramref name="MaxBandwidthBytesPerSecond"/> caps the memory stream (null: as fast as it goes).
/// <paramref name="Portal"/> names the portal process where both sides meet (with several processes,
/// the agents may be held by different ones); null: the portal each agent is configured with. An
/// agent dials a named portal only when its own settings list that address.
/// </summary>
public sealed record MigrationLink(Guid MigrationId, string Token, int Channels, long? MaxBandwidthBytesPerSecond = null, string? Portal = null)
{
    /// <summary>The channel that carries the memory and device state.</summary>
    public const string MemoryChannel = "memory";

    /// <summary>The channel that carries the <paramref name="index"/>th disk connection (NBD).</summary>
    public static string DiskChannel(int index) => $"disk-{index}";
}

/// <summary>
/// A command for one VM. <paramref name="Spec"/> goes with Create and Configure,
/// <paramref name="Keys"/> with SendKeys, <paramref name="Snapshot"/> (a name) with the snapshot verbs;
/// a Create with <paramref name="CloneFrom"/> copies that stopped VM's disks in full;
/// <paramref name="Image"/> (a file name in the host's image store) goes with ChangeMedium;
/// <paramref name="MaxBytes"/> caps what ConvertToTemplate may write; <paramref name="Text"/> and
/// <paramref name="Layout"/> (a <see cref="Qemu.KeyboardLayouts"/> name) go with TypeText; <paramref name="User"/> and
/// <paramref name="Text"/> (a password hash) with SetGuestPassword. <paramref name="TraceParent"/> is the
/// W3C trace context of the portal's span that sent it: the agent's span of the operation is its child.
/// </summary>
public sealed record VmCommand(
    Guid OperationId,
    Guid VmId,
    VmVerb Verb,
    VmSpec? Spec = null,
    bool StartAfterCreate = false,
    IReadOnlyList<string>? Keys = null,
    string? Snapshot = null,
    Guid? CloneFrom = null,
    string? Image = null,
    long? MaxBytes = null,
    MigrationLink? Migration = null,
    string? TraceParent = null,
    string? Text = null,
    string? Layout = null,
    string? User = null);

/// <param name="Tampering">The refusal is the agent's wall against something the VM's uid changed (audited by the portal).</param>
public sealed record CommandAck(Guid OperationId, bool Accepted, string? Refusal = null, bool Tampering = false)
{
    public static CommandAck Accept(Guid operationId) => new(operationId, true);

    public static CommandAck Refuse(Guid operationId, string reason, bool tampering = false) => new(operationId, false, reason, tampering);
}

public enum OperationState
{
    Running,
    Succeeded,
    Failed,
}

/// <summary>What an operation measured: the RAM state a snapshot holds, the disk's allocation on the host, a new image's size and checksum.</summary>
/// <remarks>A migration's source reports <paramref name="Progress"/> while it runs (state Running) and <paramref name="Migration"/>, QEMU's figures, when it ends.</remarks>
/// <remarks>A save or a typing reports <paramref name="Work"/> while it runs (state Running).</remarks>
public sealed record OperationResult(
    long? StateBytes = null, long? DiskBytes = null, string? Sha256 = null, Recipes.MigrationProgress? Progress = null, Recipes.MigrationFigures? Migration = null,
    WorkDone? Work = null, bool Quiesced = false);

/// <summary>How far a long operation has got: <paramref name="Done"/> of <paramref name="Total"/> <paramref name="Unit"/> (<see cref="Bytes"/> or <see cref="Characters"/>).</summary>
public sealed record WorkDone(long Done, long Total, string Unit)
{
    public const string Bytes = "bytes";
    public const string Characters = "characters";
}

/// <param name="Tampering">It failed at the agent's wall against something the VM's uid changed (audited by the portal).</param>
public sealed record OperationReport(
    Guid OperationId, Guid VmId, OperationState State, string? Message = null, OperationResult? Result = null, bool Tampering = false);

/// <summary>What the agent observes of a VM. The portal's status is derived from this, never guessed.</summary>
public enum VmPowerState
{
    /// <summary>The agent has no such VM.</summary>
    Missing,
    Creating,
    Stopped,
    Starting,
    Running,
    Paused,
    ShuttingDown,
    Crashed,
    /// <summary>Not running; its whole state is saved on disk (see <see cref="VmReport.SavedBytes"/>).</summary>
    Saved,
}

/// <remarks>
/// <paramref name="Limits"/> says which noisy-neighbour limits the agent applied and which it could not.
/// <paramref name="Label"/> and <paramref name="Uid"/> are what the agent's own record of the VM
/// says; <paramref name="RunningUid"/> and <paramref name="RunningGid"/> what the kernel says its
/// QEMU runs as (while one runs). The portal compares all of them with its record.
/// <paramref name="RecordProblem"/> says why the agent holds no record of the VM although its run
/// directory is there (a <c>spec.json</c> that did not read, moved aside): the portal's record is needed again.
/// <paramref name="Ports"/> are the root ports the VM's devices sit in (<see cref="Qemu.DeviceLayout.PortsOf"/>): the
/// portal keeps them and sends them with the VM's spec, so a migration's destination lays the devices out the same.
/// </remarks>
public sealed record VmReport(
    Guid VmId,
    VmPowerState State,
    DateTimeOffset ObservedAt,
    string? Detail = null,
    int? Pid = null,
    int? Uid = null,
    long? SavedBytes = null,
    string? Limits = null,
    string? Label = null,
    int? RunningUid = null,
    int? RunningGid = null,
    string? RecordProblem = null,
    IReadOnlyDictionary<string, string>? Ports = null);

/// <remarks>
/// <paramref name="Outcomes"/> are the oldest outcomes the agent holds that the portal has not
/// confirmed (its outbox), in the order they ended: the portal records them before it looks at
/// anything else the host says or sends it anything, so a command that ended while the portal was
/// away shows its true end. The rest of the outbox follows as reports once registered.
/// </remarks>
public sealed record HostRegistration(
    Guid HostId,
    string Name,
    int ContractVersion,
    int LogicalCpus,
    long MemoryBytes,
    long DiskBytes,
    string Accelerator,
    string? AcceleratorWarning,
    string QemuVersion,
    string Confinement,
    IReadOnlyList<VmReport> Vms,
    int NumaNodes = 1,
    long HugePagesTotal = 0,
    long HugePageBytes = 0,
    bool KsmAvailable = false,
    string? KsmNote = null,
    IReadOnlyList<string>? ConfinementMissing = null,
    IReadOnlyList<string>? Images = null,
    Networks.VxlanEndpoint? Vxlan = null,
    IReadOnlyList<OperationReport>? Outcomes = null);

public sealed record HostWelcome(bool Accepted, string? Refusal = null);

/// <summary>
/// Posted once to <c>/agent/enroll</c>: a one-time join token for the host's own credential,
/// which the agent keeps and presents from then on (<see cref="EnrollPath"/>).
/// </summary>
public sealed record EnrollRequest(string Token, Guid HostId, string Name)
{
    public const string EnrollPath = "/agent/enroll";
}

public sealed record EnrollResponse(string Credential);

/// <summary>What a console session carries.</summary>
public enum ConsoleKind
{
    /// <summary>The VM's screen: its VNC socket, both ways.</summary>
    Vnc,
    /// <summary>The VM's first serial port, both ways.</summary>
    Serial,
    /// <summary>The serial port's whole log so far, one way, then the socket closes.</summary>
    SerialLog,
    /// <summary>A small PNG of the screen now (QMP screendump), one way, then the socket closes.</summary>
    Thumbnail,
}

/// <summary>
/// Asks the agent to open <c>/console/agent/{Nonce}</c> on the portal it is configured with and
/// splice it to what <paramref name="Kind"/> names. <paramref name="Portal"/> names another portal
/// process to dial instead (the one the browser reached); the agent dials it only when its own
/// settings list that address.
/// </summary>
public sealed record ConsoleDial(Guid VmId, string Nonce, ConsoleKind Kind = ConsoleKind.Vnc, string? Portal = null);

/// <summary>
/// The host's effective RAM allocation ratio (above 1.0 the agent that manages KSM turns it on),
/// and whether an admin allowed VMs to start here without every wall (<see cref="Isolation.Confinement.Missing"/>).
/// </summary>
public sealed record HostSettings(double RamRatio, bool AllowUnconfined = false);

/// <summary>
/// One VM's QEMU process: resident memory and CPU time so far, who it runs as, its seccomp mode (2:
/// filter), and its I/O counters (null when QEMU did not answer in time).
/// </summary>
/// <remarks><paramref name="Guest"/> is what the guest's QEMU guest agent last said, for a VM that has one.</remarks>
public sealed record VmUsage(Guid VmId, long RssBytes, double CpuSeconds, int? Uid = null, int? Gid = null, int? Seccomp = null, VmIo? Io = null, GuestReport? Guest = null);

/// <summary>
/// What a VM's QEMU guest agent says of its guest (cleaned and capped by the host agent; the
/// guest's word, not a fact): whether it answers, the OS, the hostname and each NIC's addresses.
/// </summary>
public sealed record GuestReport(bool Answering, string? Os = null, string? Hostname = null, IReadOnlyList<GuestNic>? Nics = null)
{
    public const int MaxNics = 16;
    public const int MaxAddresses = 16;
    public const int MaxText = 256;
}

/// <summary>A guest NIC as the guest agent names it, its MAC address and its addresses (<c>10.0.0.5/24</c>).</summary>
public sealed record GuestNic(string Name, string? Mac, IReadOnlyList<string> Addresses);

/// <summary>
/// A VM's I/O since its QEMU started, as the guest sees it: its disks' bytes and operations (QMP
/// query-blockstats, every drive and CD), its NICs' bytes and packets, and its balloon's size.
/// Network counters cover the NICs on tenant networks (their taps' counters); a NIC on user-mode
/// networking has none QEMU shows, so a VM with only such NICs has null ones. Counters start again
/// from 0 when QEMU does.
/// </summary>
public sealed record VmIo(
    long DiskReadBytes, long DiskWriteBytes, long DiskReadOperations, long DiskWriteOperations,
    long? NetReceivedBytes = null, long? NetSentBytes = null, long? NetReceivedPackets = null, long? NetSentPackets = null, long? BalloonBytes = null);

/// <summary>What the host's QEMU processes use together, per VM, and KSM.</summary>
/// <param name="DiskFreeBytes">What the data disk has free: below the agent's floor it refuses operations that take disk.</param>
/// <param name="Part">Which part of the report this is (<see cref="HubParts"/>): the first holds the host's figures and replaces the last report; each next one adds VMs to it.</param>
/// <param name="Parts">How many parts the report has.</param>
public sealed record HostUsage(long RssBytes, double CpuSeconds, IReadOnlyList<VmUsage> Vms, Hosting.KsmStatus Ksm, DateTimeOffset At,
    bool ManagesKsm, string? KsmProblem = null, long? DiskFreeBytes = null, AgentHealthReport? Health = null, int Part = 0, int Parts = 1);

/// <summary>One of an agent's health checks: its name, its status (Healthy, Degraded or Unhealthy) and a sentence.</summary>
public sealed record AgentHealthCheck(string Name, string Status, string Description);

/// <summary>
/// An agent's health, as the portal's <c>/readyz</c> says its own: the worst check's status, and each
/// check. Sent with every usage report; the Hosts page shows it.
/// </summary>
public sealed record AgentHealthReport(string Status, IReadOnlyList<AgentHealthCheck> Checks)
{
    public const string Healthy = "Healthy";
    public const string Degraded = "Degraded";
    public const string Unhealthy = "Unhealthy";

    public static readonly string[] Statuses = [Healthy, Degraded, Unhealthy];

    public static AgentHealthReport Of(IReadOnlyList<AgentHealthCheck> checks) =>
        new(checks.Select(c => c.Status).OrderByDescending(s => Array.IndexOf(Statuses, s)).FirstOrDefault() ?? Healthy, checks);
}
