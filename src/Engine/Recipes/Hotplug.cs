using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Recipes;

/// <summary>
/// Hotplug through QMP, the way libvirt's qemu_hotplug.c does it on q35: PCIe devices go into a free
/// root port; unplug is device_del, then waiting for the guest to let go (DEVICE_DELETED), and only
/// then the backend goes (blockdev-del, netdev_del) — never the other way round. Changing a CD-ROM's
/// disc is here too, as in libvirt.
/// </summary>
public static class Hotplug
{
    public static readonly TimeSpan UnplugTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Adds the blank qcow2 disk at <paramref name="path"/> as a virtio-blk device.</summary>
    /// <summary>Adds a blank qcow2 disk; returns the root port it went into (for the spec: see <see cref="Qemu.DeviceLayout"/>).</summary>
    public static async Task<string> AddDiskAsync(QmpClient qmp, string path, DiskSpec disk, CancellationToken ct)
    {
        await qmp.BlockdevAddAsync(new Dictionary<string, object?>
        {
            ["driver"] = "file",
            ["node-name"] = $"file-{disk.Id}",
            ["filename"] = path,
            ["discard"] = "unmap",
        }, ct).ConfigureAwait(false);
        // A hot-added disk is blank: no backing file, whatever its header may come to say.
        await qmp.BlockdevAddAsync(new Dictionary<string, object?>
        {
            ["driver"] = "qcow2",
            ["node-name"] = disk.Id,
            ["file"] = $"file-{disk.Id}",
            ["backing"] = null,
            ["discard"] = "unmap",
        }, ct).ConfigureAwait(false);
        try
        {
            return await PlugAsync(qmp, new Dictionary<string, object> { ["driver"] = "virtio-blk-pci", ["id"] = $"disk-{disk.Id}", ["drive"] = disk.Id }, ct)
                .ConfigureAwait(false);
        }
        catch
        {
            // Cleaning up after a failure: what is already gone stays gone.
            await qmp.TryAsync(q => q.BlockdevDelAsync(disk.Id, timeout: QmpCommands.Brief)).ConfigureAwait(false);
            await qmp.TryAsync(q => q.BlockdevDelAsync($"file-{disk.Id}", timeout: QmpCommands.Brief)).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Deletes the disk's block nodes if an add left them without their device (the agent was killed in between): their names would be taken.</summary>
    public static async Task ClearCutAddAsync(QmpClient qmp, DiskSpec disk)
    {
        await qmp.TryAsync(q => q.BlockdevDelAsync(disk.Id, timeout: QmpCommands.Brief)).ConfigureAwait(false);
        await qmp.TryAsync(q => q.BlockdevDelAsync($"file-{disk.Id}", timeout: QmpCommands.Brief)).ConfigureAwait(false);
    }

    /// <summary>
    /// The root port the disk's device sits in, or null when QEMU has no such device: an add that the
    /// agent was killed in the middle of may have got that far.
    /// </summary>
    public static async Task<string?> PortOfDiskAsync(QmpClient qmp, DiskSpec disk, CancellationToken ct) =>
        (await qmp.QueryPciAsync(ct).ConfigureAwait(false)).FirstOrDefault(p => p.Behind.Contains($"disk-{disk.Id}"))?.QdevId;

    public static async Task RemoveDiskAsync(QmpClient qmp, DeviceRemovals removals, DiskSpec disk, CancellationToken ct)
    {
        await UnplugAsync(qmp, removals, $"disk-{disk.Id}", ct).ConfigureAwait(false);
        await qmp.BlockdevDelAsync(disk.Id, ct).ConfigureAwait(false);
        await qmp.BlockdevDelAsync($"file-{disk.Id}", ct).ConfigureAwait(false);
    }

    /// <summary>Adds a virtio-net NIC on the guest network every NIC gets (<see cref="GuestNetwork"/>); returns the root port it went into.</summary>
    public static async Task<string> AddNicAsync(QmpClient qmp, NicSpec nic, CancellationToken ct)
    {
        await qmp.NetdevAddAsync(GuestNetwork.UserNetdevArguments(nic.Id), ct).ConfigureAwait(false);
        try
        {
            return await PlugAsync(qmp, NicDevice(nic), ct).ConfigureAwait(false);
        }
        catch
        {
            await qmp.TryAsync(q => q.NetdevDelAsync(nic.Id, timeout: QmpCommands.Brief)).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Adds a virtio-net NIC on a tenant network: the tap the agent opened goes to QEMU by descriptor
    /// (getfd), becomes the NIC's netdev, and the device goes into <paramref name="rootPort"/> (the
    /// place the spec gives it, before the guest first runs) or, when null, into a free root port.
    /// QEMU keeps the tap open from then on; the caller closes its own descriptor. Returns the root port.
    /// </summary>
    public static async Task<string> AddTapNicAsync(QmpClient qmp, NicSpec nic, System.Runtime.InteropServices.SafeHandle tap, string? rootPort, CancellationToken ct)
    {
        var fdName = $"tap-{nic.Id}";
        await qmp.GetFdAsync(fdName, tap, ct).ConfigureAwait(false);
        try
        {
            await qmp.NetdevAddAsync(GuestNetwork.TapNetdevArguments(nic.Id, fdName), ct).ConfigureAwait(false);
        }
        catch
        {
            await qmp.TryAsync(q => q.CloseFdAsync(fdName, timeout: QmpCommands.Brief)).ConfigureAwait(false);
            throw;
        }

        try
        {
            var device = NicDevice(nic);
            if (rootPort is null)
            {
                return await PlugAsync(qmp, device, ct).ConfigureAwait(false);
            }

            device["bus"] = rootPort;
            await qmp.DeviceAddAsync(device, ct).ConfigureAwait(false);
            return rootPort;
        }
        catch
        {
            await qmp.TryAsync(q => q.NetdevDelAsync(nic.Id, timeout: QmpCommands.Brief)).ConfigureAwait(false);
            throw;
        }
    }

    public static async Task RemoveNicAsync(QmpClient qmp, DeviceRemovals removals, NicSpec nic, CancellationToken ct)
    {
        await UnplugAsync(qmp, removals, $"nic-{nic.Id}", ct).ConfigureAwait(false);
        await qmp.NetdevDelAsync(nic.Id, ct).ConfigureAwait(false);
    }

    /// <summary>Plugs <paramref name="count"/> vCPUs into the free slots <c>query-hotpluggable-cpus</c> lists (those without a qom-path).</summary>
    public static async Task AddVCpusAsync(QmpClient qmp, int count, CancellationToken ct)
    {
        var slots = (await qmp.QueryHotpluggableCpusAsync(ct).ConfigureAwait(false))
            .Where(c => c.QomPath is null)
            .OrderBy(c => c.Prop("socket-id")).ThenBy(c => c.Prop("core-id")).ThenBy(c => c.Prop("thread-id"))
            .Take(count)
            .ToList();
        if (slots.Count < count)
        {
            throw new InvalidOperationException($"QEMU has {slots.Count} free vCPU slots; {count} were asked for.");
        }

        foreach (var slot in slots)
        {
            var arguments = new Dictionary<string, object> { ["driver"] = slot.Type };
            foreach (var (name, value) in slot.Props)
            {
                arguments[name] = value;
            }

            arguments["id"] = $"vcpu-s{slot.Prop("socket-id")}c{slot.Prop("core-id")}t{slot.Prop("thread-id")}";
            await qmp.DeviceAddAsync(arguments, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Puts <paramref name="path"/> (an ISO) into CD-ROM drive <paramref name="driveId"/>, or takes
    /// the disc out when it is null.
    /// </summary>
    public static async Task ChangeMediumAsync(QmpClient qmp, string driveId, string? path, CancellationToken ct)
    {
        if (path is null)
        {
            await qmp.EjectAsync($"cdrom-{driveId}", force: true, ct).ConfigureAwait(false);
        }
        else
        {
            await qmp.BlockdevChangeMediumAsync($"cdrom-{driveId}", path, "raw", force: true, ct).ConfigureAwait(false);
        }

        // A disc given at boot came with -blockdev nodes the monitor owns: taking it out of the drive
        // leaves them open until they are deleted. A disc inserted later is anonymous and goes with
        // the eject, so "not found" here is the normal case.
        foreach (var node in new[] { driveId, $"file-{driveId}" })
        {
            await qmp.TryAsync(q => q.BlockdevDelAsync(node, timeout: QmpCommands.Brief)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Puts the device into a root port with nothing behind it, as <c>query-pci</c> shows them. A root
    /// port has one slot, but QEMU accepts a second device at another address behind it that the
    /// guest never sees, so "try until one is refused" would be wrong.
    /// </summary>
    private static async Task<string> PlugAsync(QmpClient qmp, Dictionary<string, object> device, CancellationToken ct)
    {
        if (FreeRootPorts(await qmp.QueryPciAsync(ct).ConfigureAwait(false)) is not [.., var free])
            throw new InvalidOperationException($"No free PCIe root port for {device["id"]}: every one holds a device.");
        device["bus"] = free;
        await qmp.DeviceAddAsync(device, ct).ConfigureAwait(false);
        return free;
    }

    private static Dictionary<string, object> NicDevice(NicSpec nic) => new()
    {
        ["driver"] = "virtio-net-pci",
        ["id"] = $"nic-{nic.Id}",
        ["netdev"] = nic.Id,
        ["mac"] = nic.Mac.ToLowerInvariant(),
    };

    /// <summary>The ids of the root ports (<c>rpN</c>) with no device behind them, in order.</summary>
    public static IReadOnlyList<string> FreeRootPorts(IEnumerable<QmpPciDevice> devices) =>
        [.. devices
            .Where(d => d.QdevId is { } name && name.StartsWith("rp", StringComparison.Ordinal) && d.DevicesBehind == 0)
            .Select(d => d.QdevId!)
            .OrderBy(id => int.TryParse(id.AsSpan(2), out var n) ? n : int.MaxValue)];

    private static async Task UnplugAsync(QmpClient qmp, DeviceRemovals removals, string deviceId, CancellationToken ct)
    {
        var gone = removals.Expect(deviceId);
        await qmp.DeviceDelAsync(deviceId, ct).ConfigureAwait(false);
        try
        {
            await gone.WaitAsync(UnplugTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            removals.Forget(deviceId);
            throw new TimeoutException($"The guest did not release {deviceId} within {UnplugTimeout.TotalSeconds:0} s; it stays attached.");
        }
    }
}
