using System.ComponentModel.DataAnnotations;

namespace Paddock.Portal;

/// <summary>Settings under <c>Paddock</c>. A wrong setting fails at start with its name.</summary>
public sealed record PortalOptions : IValidatableObject
{
    public const string Section = "Paddock";

    /// <summary>First uid handed to VMs; a VM's uid is this plus the index of its isolation label.</summary>
    [Range(1000, 2_000_000_000)]
    public int VmUidBase { get; init; } = 2_000_000;

    /// <summary>Where the image library keeps its files (ISOs and disk images, named by checksum).</summary>
    [Required]
    public string LibraryDir { get; init; } = "";

    /// <summary>
    /// Whether this process marks every host disconnected when it starts, as no agent is connected
    /// to it yet. A second portal process sharing the database with the one the agents dial (the
    /// quota proof runs one) sets it false: host connections are still held per process.
    /// </summary>
    public bool ResetHostsOnStart { get; init; } = true;

    /// <summary>How long a host may be away before it is shown Unreachable and its VMs Unknown.</summary>
    public TimeSpan HostGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an operation waits for its host to come back before it ends as failed (see <c>CommandGiveUp</c>).</summary>
    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// This process's own address as agents reach it directly, not through the load balancer in front
    /// of several portal processes (for example https://portal-2.example:8443). A console opened here
    /// for a host whose agent another process holds is then dialled back here, by an agent that lists
    /// this address in its <c>Agent:PortalAddresses</c>. Empty (the default): such a console waits for
    /// the agent to reach this process (503).
    /// </summary>
    [Url]
    public string? DirectUrl { get; init; }

    public ConsoleOptions Console { get; init; } = new();

    public UploadOptions Uploads { get; init; } = new();

    public TemplateOptions Template { get; init; } = new();

    public DebianTemplateOptions DebianTemplate { get; init; } = new();

    public SignInLimits SignIn { get; init; } = new();

    /// <summary>
    /// The reverse proxies in front of the portal (addresses or networks such as 10.0.0.0/24): from
    /// them alone X-Forwarded-For, -Proto and -Host are believed, so the sign-in limits and the audit
    /// see the person's address, and cookies, redirects and the consoles' Origin check the public
    /// scheme and host. Empty (the default): nothing is forwarded, every such header is ignored.
    /// </summary>
    public IReadOnlyList<string> TrustedProxies { get; init; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        TrustedProxies.Where(p => ProxyNetwork(p) is null)
            .Select(p => new ValidationResult($"Paddock:TrustedProxies: '{p}' is not an IP address or a network such as 10.0.0.0/24.", [nameof(TrustedProxies)]));

    /// <summary>A trusted proxy entry as a network (an address alone is a /32 or /128); null when it is neither.</summary>
    public static System.Net.IPNetwork? ProxyNetwork(string entry) =>
        System.Net.IPNetwork.TryParse(entry, out var network) ? network
        : System.Net.IPAddress.TryParse(entry, out var address) ? new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
        : null;
}

/// <summary>From how many failed sign-ins (within 15 minutes) attempts are spaced out, and from how many the account or address is locked for 15 minutes.</summary>
public sealed record SignInLimits
{
    [Range(1, 1000)]
    public int AccountSlowFrom { get; init; } = 3;

    [Range(1, 1000)]
    public int AccountLockAt { get; init; } = 10;

    [Range(1, 100000)]
    public int AddressSlowFrom { get; init; } = 20;

    [Range(1, 100000)]
    public int AddressLockAt { get; init; } = 100;

    /// <summary>Sign-in posts one address may make a minute, per portal process, before it is answered 429 (see <c>SignInRateLimit</c>).</summary>
    [Range(1, 1_000_000)]
    public int AddressPostsPerMinute { get; init; } = 60;
}

/// <summary>
/// How qemu-img runs on uploads (see <c>QemuImgSandbox</c>). The uid is one of its own, owning no
/// file but the upload staging directories and shared with no daemon (unlike nobody, which NFS and
/// other services use: a qemu-img taken over through a crafted image could signal or trace them,
/// and they it). Just below <see cref="PortalOptions.VmUidBase"/>, so it is no VM's either.
/// </summary>
public sealed record UploadOptions
{
    [Range(1000, 2_000_000_000)]
    public int Uid { get; init; } = 1_999_999;

    [Range(1000, 2_000_000_000)]
    public int Gid { get; init; } = 1_999_999;

    [Range(256, 65536)]
    public int AddressSpaceMiB { get; init; } = 1024;

    [Range(5, 3600)]
    public int CpuSeconds { get; init; } = 60;
}

public sealed record ConsoleOptions
{
    /// <summary>How long a console ticket stays usable after it is issued.</summary>
    public TimeSpan TicketLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the portal waits for the agent to dial back for a console session.</summary>
    public TimeSpan AgentDialTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a process holding an agent waits for its answer to a dial another process asked for (less than any <see cref="AgentDialTimeout"/>, so the answer still finds the asker waiting).</summary>
    public static readonly TimeSpan ForwardedDialTimeout = TimeSpan.FromSeconds(10);
}

/// <summary>The built-in template (the image library comes later).</summary>
public sealed record TemplateOptions
{
    public string Name { get; init; } = "Busybox (built-in)";

    /// <summary>File name of the base image in each host's image store.</summary>
    public string Image { get; init; } = "builtin-busybox.qcow2";

    public long DiskBytes { get; init; } = 128L * 1024 * 1024;
}

/// <summary>
/// The built-in "Debian 12 (cloud)" template: <see cref="ImagePath"/> is where
/// <c>scripts/build-debian-template.sh</c> writes its image (<c>./paddock up</c> builds it in the
/// background). Until the image and its <c>.sha256</c> file are there the template shows as
/// building; then the portal copies it into its library, where hosts fetch it by checksum. Empty
/// (the default outside <c>./paddock up</c>): no Debian template.
/// </summary>
public sealed record DebianTemplateOptions
{
    public string? ImagePath { get; init; }

    public string Name { get; init; } = "Debian 12 (cloud)";

    /// <summary>The image's virtual size (the script's TEMPLATE_DISK_MB): cloud-init grows the root file system to the VM's disk.</summary>
    public long DiskBytes { get; init; } = 2048L * 1024 * 1024;

    public int MemoryMiB { get; init; } = 1024;
}
