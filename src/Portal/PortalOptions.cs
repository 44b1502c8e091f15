using System.ComponentModel.DataAnnotations;

namespace Paddock.Portal;

/// <summary>Settings under <c>Paddock</c>. A wrong setting fails at start with its name.</summary>
public sealed record PortalOptions
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

    public ConsoleOptions Console { get; init; } = new();

    public TemplateOptions Template { get; init; } = new();

    public SignInLimits SignIn { get; init; } = new();
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
}

public sealed record ConsoleOptions
{
    /// <summary>How long a console ticket stays usable after it is issued.</summary>
    public TimeSpan TicketLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the portal waits for the agent to dial back for a console session.</summary>
    public TimeSpan AgentDialTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>The built-in template (the image library comes later).</summary>
public sealed record TemplateOptions
{
    public string Name { get; init; } = "Busybox (built-in)";

    /// <summary>File name of the base image in each host's image store.</summary>
    public string Image { get; init; } = "builtin-busybox.qcow2";

    public long DiskBytes { get; init; } = 128L * 1024 * 1024;
}
