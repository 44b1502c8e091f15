using System.ComponentModel.DataAnnotations;
using Paddock.Engine.Hosting;

namespace Paddock.Host;

/// <summary>Settings under <c>Agent</c>. A wrong setting fails at start with its name.</summary>
public sealed record AgentOptions
{
    public const string Section = "Agent";

    /// <summary>The portal's base URL; the agent dials out to it, the host needs no inbound port.</summary>
    [Required, Url]
    public string PortalUrl { get; init; } = "";

    /// <summary>
    /// The portal processes' own addresses, when several share one database behind the address in
    /// <see cref="PortalUrl"/>: a console opened through a process that does not hold this agent's
    /// connection is dialled back to that process directly, and only to an address listed here (or
    /// <see cref="PortalUrl"/> itself). Empty (the default): the agent dials <see cref="PortalUrl"/> alone.
    /// </summary>
    public IReadOnlyList<string> PortalAddresses { get; init; } = [];

    /// <summary>
    /// A one-time join token from the portal (Hosts → Add host), needed only the first time: the
    /// agent trades it for a credential of its own, kept in its state directory.
    /// </summary>
    public string? JoinToken { get; init; }

    /// <summary>
    /// SHA-256 fingerprint of the portal's certificate, trusted even when no authority signed it
    /// (the run command's self-signed one). When set, no other certificate is trusted, whoever
    /// signed it; unset, any certificate a trusted authority signed for the portal's name is.
    /// </summary>
    [RegularExpression("^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$", ErrorMessage = "Agent:PortalCertificateSha256 is 64 hex digits (colons allowed).")]
    public string? PortalCertificateSha256 { get; init; }

    /// <summary>
    /// Holds <c>images/</c> (base images), <c>vms/</c> (run directories) and <c>agent/</c> (the agent's
    /// own state): <c>/var/lib/paddock/default</c>, on Windows <c>%ProgramData%\Paddock\default</c>.
    /// </summary>
    [Required]
    public string DataDir { get; init; } = OperatingSystem.IsWindows()
        ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.CommonApplicationData), "Paddock", "default")
        : "/var/lib/paddock/default";

    /// <summary>The host's name as admins see it; the machine's name when empty.</summary>
    public string? Name { get; init; }

    /// <summary>Auto probes; kvm, whpx or tcg force one.</summary>
    public AcceleratorSetting Accelerator { get; init; } = AcceleratorSetting.Auto;

    /// <summary>When the agent stops: power off running VMs (true) or leave them running to be re-attached (false).</summary>
    public bool StopVmsOnExit { get; init; }

    /// <summary>Debian's QEMU, or on Windows where QEMU's installer puts it.</summary>
    public string QemuBinary { get; init; } = OperatingSystem.IsWindows()
        ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), "qemu", "qemu-system-x86_64.exe")
        : "/usr/bin/qemu-system-x86_64";

    /// <summary>
    /// Offer less memory than the machine has (several agents on one machine, tests). Never more:
    /// a larger value is capped at what the machine has.
    /// </summary>
    [Range(64, int.MaxValue)]
    public int? DeclaredMemoryMiB { get; init; }

    /// <summary>Declare fewer logical CPUs than the machine has (tests run several agents of different sizes on one machine).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 4096)]
    public int? DeclaredCpus { get; init; }

    /// <summary>Declare less storage for VM disks than the file system has.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, int.MaxValue)]
    public int? DeclaredDiskGiB { get; init; }

    /// <summary>
    /// Whether this agent switches KSM (machine-wide) by the host's RAM ratio. Where several agents
    /// share one machine, exactly one of them does.
    /// </summary>
    public bool ManageKsm { get; init; } = true;

    /// <summary>
    /// Tests only: give every QEMU a second QMP monitor (qmp-test.sock in its run directory), through
    /// which the isolation proof asks one VM's QEMU to open another VM's files.
    /// </summary>
    public bool TestMonitor { get; init; }

    /// <summary>Free space the data disk keeps for running VMs: below it, operations that take disk are refused.</summary>
    [Range(0, int.MaxValue)]
    public int MinFreeDiskMiB { get; init; } = 1024;

    /// <summary>How often the agent reports what its QEMU processes use.</summary>
    public TimeSpan UsageInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the agent checks the size of each running VM's serial log.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SerialLogCheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The size at which a VM's serial log is rotated: its last part is kept as serial.log.1 and the
    /// rest dropped, so a guest printing for ever cannot fill the host's disk. Fractions count
    /// (0.25 is 256 KiB). A rotation holds the kept part in memory for a moment (see
    /// <see cref="Paddock.Engine.Vms.SerialLog.RotateIfOverAsync"/>), hence the bound of 64 MiB.
    /// </summary>
    [Range(0.0625, 64.0)]
    public double SerialLogMaxMiB { get; init; } = 8;

    /// <summary>Where SELinux enforces: the type QEMU runs in, the type of each VM's own files, and that of shared base images (sVirt's).</summary>
    public string SelinuxType { get; init; } = "svirt_t";

    public string SelinuxImageType { get; init; } = "svirt_image_t";

    public string SelinuxSharedType { get; init; } = "virt_content_t";

    /// <summary>
    /// The first two letters of every network device, namespace and table this agent makes; a second
    /// agent on the same machine takes another (e.g. "pe"). The agent removes what carries its prefix and no network needs.
    /// </summary>
    [RegularExpression("^[a-z]{2}$", ErrorMessage = "Agent:NetworkPrefix is two lowercase letters, such as 'pd'.")]
    public string NetworkPrefix { get; init; } = "pd";

    /// <summary>The address other hosts reach this host's VXLAN endpoint on (an IPv4 address).</summary>
    [RegularExpression(@"^[0-9]{1,3}(\.[0-9]{1,3}){3}$", ErrorMessage = "Agent:VxlanAddress is an IPv4 address.")]
    public string VxlanAddress { get; init; } = "127.0.0.1";

    /// <summary>The UDP port of this host's VXLAN endpoint; two agents on one machine take two.</summary>
    [Range(1, 65535)]
    public int VxlanPort { get; init; } = Engine.Networks.VxlanEndpoint.DefaultPort;

    public string ImagesDir => Path.Combine(DataDir, "images");

    public string VmsDir => Path.Combine(DataDir, "vms");

    public string StateDir => Path.Combine(DataDir, "agent");
}
