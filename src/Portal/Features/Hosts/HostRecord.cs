namespace Paddock.Portal.Features.Hosts;

/// <summary>A hypervisor host as its agent last described it.</summary>
public sealed class HostRecord
{
    public Guid Id { get; set; }

    public string Name { get; set; } = "";

    public int ContractVersion { get; set; }

    public int LogicalCpus { get; set; }

    public long MemoryBytes { get; set; }

    public long DiskBytes { get; set; }

    public string Accelerator { get; set; } = "";

    public string? AcceleratorWarning { get; set; }

    public string QemuVersion { get; set; } = "";

    /// <summary>The walls the host gives a VM's QEMU ("DAC + seccomp"), and those it cannot give, each saying why.</summary>
    public string Confinement { get; set; } = "";

    public List<string> ConfinementMissing { get; set; } = [];

    /// <summary>The images in the host's store when it registered: what it can boot without fetching from the library (the built-in template's).</summary>
    public List<string> Images { get; set; } = [];

    /// <summary>Where the host's VXLAN endpoint listens (other hosts that carry one of its networks send there), as it registered; null when it has none.</summary>
    public Paddock.Engine.Networks.VxlanEndpoint? Vxlan { get; set; }

    public bool Connected { get; set; }

    /// <summary>The SignalR connection the host is on: a late disconnect of an older one must not mark it away.</summary>
    public string? ConnectionId { get; set; }

    public DateTimeOffset RegisteredAt { get; set; }

    /// <summary>SHA-256 of the host's own credential (given once, when it joined); empty when it has none.</summary>
    public string CredentialHash { get; set; } = "";

    public DateTimeOffset? EnrolledAt { get; set; }

    /// <summary>An admin revoked the host: its credential is void until it joins again with a new token.</summary>
    public bool Revoked { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public DateTimeOffset LastSeenAt { get; set; }

    /// <summary>Away longer than the grace period: its VMs are Unknown until it reports again.</summary>
    public bool Unreachable { get; set; }

    /// <summary>What the host declared beyond CPUs, memory and disk.</summary>
    public int NumaNodes { get; set; }

    public long HugePagesTotal { get; set; }

    public long HugePageBytes { get; set; }

    /// <summary>Whether the kernel offers KSM (same-page merging), and why not when it does not.</summary>
    public bool KsmAvailable { get; set; }

    public string? KsmNote { get; set; }
}

/// <summary>What a host's QEMU processes actually use and what KSM shares, as its agent last reported (every few seconds; last write wins).</summary>
public sealed class HostUsageReport
{
    public Guid Id { get; set; }

    public long RssBytes { get; set; }

    public double CpuSeconds { get; set; }

    /// <summary>CPU use between the last two reports, in per cent of the host's logical CPUs.</summary>
    public double CpuPercent { get; set; }

    public Paddock.Engine.Hosting.KsmStatus Ksm { get; set; } = new(false, false, 0, 0, 0, null);

    public bool ManagesKsm { get; set; }

    public string? KsmProblem { get; set; }

    /// <summary>What the host's data disk has free (below the agent's floor it refuses operations that take disk).</summary>
    public long? DiskFreeBytes { get; set; }

    public List<Paddock.Engine.Contract.VmUsage> Vms { get; set; } = [];

    /// <summary>The agent's own health checks (host text: shown as text, never as markup); null from an agent older than them.</summary>
    public Paddock.Engine.Contract.AgentHealthReport? Health { get; set; }

    public DateTimeOffset At { get; set; }
}

/// <summary>Published to live pages when a host registered, went away, joined or was revoked.</summary>
public sealed record HostsChanged;

/// <summary>An admin revoked the host: every portal process ends what it holds with it (its agent's connection, consoles through it).</summary>
public sealed record HostRevoked(Guid HostId);

/// <summary>Published to live pages when a host reported its usage.</summary>
public sealed record HostUsageChanged(Guid HostId);
