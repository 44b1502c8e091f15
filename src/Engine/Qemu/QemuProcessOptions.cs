namespace Paddock.Engine.Qemu;

/// <summary>How <see cref="QemuProcess"/> launches QEMU on this host.</summary>
public sealed record QemuProcessOptions
{
    public static QemuProcessOptions Default { get; } = new();

    public string SetsidPath { get; init; } = "/usr/bin/setsid";

    public string SetprivPath { get; init; } = "/usr/bin/setpriv";

    public string ShellPath { get; init; } = "/bin/sh";

    /// <summary>How long QEMU may take to create its QMP socket.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Supplementary groups for QEMU (for example the <c>kvm</c> group when /dev/kvm is 0660
    /// root:kvm); empty clears them all.
    /// </summary>
    public IReadOnlyList<int> SupplementaryGroups { get; init; } = [];

    /// <summary>
    /// Start QEMU as the VM's uid and gid (through setpriv). Off only where the agent is not root
    /// and cannot: then QEMU runs as the agent, which is unconfined and needs an admin's leave.
    /// </summary>
    public bool ChangeIds { get; init; } = true;

    /// <summary>The SELinux context QEMU is to run in (where SELinux enforces), for example <c>system_u:system_r:svirt_t:s0:c3,c7</c>.</summary>
    public string? SelinuxLabel { get; init; }
}
