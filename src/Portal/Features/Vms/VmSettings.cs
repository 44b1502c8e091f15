using Paddock.Engine.Vms;

namespace Paddock.Portal.Features.Vms;

/// <summary>What happens when a second person opens a VM's console with control of it.</summary>
public enum ConsoleSharing
{
    /// <summary>Both have the screen, keyboard and mouse (the default).</summary>
    Shared,

    /// <summary>The newcomer takes over: the others' sessions with control end, saying who took over. View-only viewers stay.</summary>
    TakeOver,
}

/// <summary>
/// How the VM behaves, as its owner set it. <paramref name="KeyboardLayout"/> is its guest's (one of
/// <see cref="Engine.Qemu.KeyboardLayouts.Names"/>): Type text presses the keys that layout needs.
/// </summary>
public sealed record VmSettings(
    int ShutdownTimeoutSeconds, RestartPolicy Restart, int MaxRestartsPerHour, string BootOrder = VmSettings.DiskFirst, string KeyboardLayout = Engine.Qemu.KeyboardLayouts.Us,
    ConsoleSharing ConsoleSharing = ConsoleSharing.Shared)
{
    public const string DiskFirst = "disk,cdrom";
    public const string CdromFirst = "cdrom,disk";

    public static readonly VmSettings Default = new(60, RestartPolicy.Never, 3);

    /// <summary>The boot orders a person picks from, by their value and how the form names them.</summary>
    public static readonly IReadOnlyDictionary<string, string> BootOrders = new Dictionary<string, string>
    {
        [DiskFirst] = "Disk, then CD-ROM",
        [CdromFirst] = "CD-ROM, then disk",
        ["network,disk"] = "Network, then disk",
    };

    public IReadOnlyList<BootDevice> BootDevices =>
        [.. BootOrder.Split(',').Select(d => Enum.TryParse<BootDevice>(d, ignoreCase: true, out var device) ? device : BootDevice.Disk).Distinct()];
}
