namespace Paddock.Engine.Qemu;

/// <summary>How QEMU is launched on this host, independent of any one VM.</summary>
public sealed record QemuLaunchOptions
{
    public static QemuLaunchOptions Default { get; } = new();

    public string QemuBinary { get; init; } = "/usr/bin/qemu-system-x86_64";

    /// <summary>Add <c>-S</c>: vCPUs stay stopped until QMP <c>cont</c>.</summary>
    public bool StartPaused { get; init; }

    /// <summary>Add <c>-incoming defer</c>: the guest's state comes later through QMP <c>migrate-incoming</c> (Restore).</summary>
    public bool IncomingDeferred { get; init; }

    /// <summary>
    /// Add QEMU's seccomp filter. Only for debugging: with it off a compromised QEMU can spawn
    /// processes and change ids.
    /// </summary>
    public bool Sandbox { get; init; } = true;

    /// <summary>
    /// <c>pcie-root-port</c>s on q35's <c>pcie.0</c>. Every cold-plugged PCIe device sits on one
    /// (disks, NICs, balloon); the rest stay free for hotplug, which PCIe only allows into a root
    /// port (docs/pcie.txt).
    /// </summary>
    public int RootPorts { get; init; } = 8;

    /// <summary>The host's image store: ISOs in CD-ROM drives are opened from here.</summary>
    public string ImagesDirectory { get; init; } = "/var/lib/paddock/images";

    /// <summary>Add <c>password=on</c> to <c>-vnc</c>: no console until a password is set over QMP.</summary>
    public bool VncPassword { get; init; }

    /// <summary>
    /// A second QMP monitor (<see cref="Vms.VmPaths.TestMonitorSocket"/>) that only tests enable:
    /// through it a test asks the VM's own QEMU to open another VM's files, which the kernel must refuse.
    /// </summary>
    public bool TestMonitor { get; init; }
}
