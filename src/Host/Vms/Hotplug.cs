using System.Text.Json;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>What differs between the hardware a VM has and the hardware it should have.</summary>
public sealed record HardwareDiff(
    IReadOnlyList<DiskSpec> AddedDisks,
    IReadOnlyList<DiskSpec> RemovedDisks,
    IReadOnlyList<(DiskSpec From, DiskSpec To)> GrownDisks,
    IReadOnlyList<NicSpec> AddedNics,
    IReadOnlyList<NicSpec> RemovedNics,
    int AddedVCpus)
{
    /// <summary>The difference, or a refusal: disks never shrink, the boot disk stays, vCPUs stay within the maximum fixed at boot.</summary>
    public static HardwareDiff Between(VmSpec current, VmSpec wanted)
    {
        if (wanted.MaxVCpus != current.MaxVCpus)
        {
            throw new InvalidOperationException($"The vCPU maximum is fixed when the VM is created ({current.MaxVCpus}).");
        }

        if (wanted.Disks.Count == 0 || wanted.Disks[0].Id != current.Disks[0].Id)
        {
            throw new InvalidOperationException("The boot disk cannot be removed.");
        }

        var grown = new List<(DiskSpec, DiskSpec)>();
        foreach (var disk in wanted.Disks)
        {
            if (current.Disks.FirstOrDefault(d => d.Id == disk.Id) is { } was)
            {
                if (disk.SizeBytes < was.SizeBytes)
                {
                    throw new InvalidOperationException($"Disk {disk.Id} cannot shrink from {was.SizeBytes} to {disk.SizeBytes} bytes: the guest's file systems would lose their ends.");
                }

                if (disk.SizeBytes > was.SizeBytes)
                {
                    grown.Add((was, disk));
                }
            }
        }

        return new HardwareDiff(
            [.. wanted.Disks.Where(d => current.Disks.All(c => c.Id != d.Id))],
            [.. current.Disks.Where(c => wanted.Disks.All(d => d.Id != c.Id))],
            grown,
            [.. wanted.Nics.Where(n => current.Nics.All(c => c.Id != n.Id))],
            [.. current.Nics.Where(c => wanted.Nics.All(n => n.Id != c.Id))],
            wanted.VCpus - current.VCpus);
    }
}

/// <summary>
/// Hotplug through QMP, the way libvirt does it on q35: PCIe devices go into a free root port;
/// unplug is device_del, then waiting for the guest to let go (DEVICE_DELETED), and only then the
/// backend goes (blockdev-del, netdev_del) — never the other way round.
/// </summary>
public static class Hotplug
{
    public static readonly TimeSpan UnplugTimeout = TimeSpan.FromSeconds(30);

    public static async Task AddDiskAsync(QmpClient qmp, string path, DiskSpec disk, CancellationToken ct)
    {
        await qmp.ExecuteAsync("blockdev-add", new Dictionary<string, object>
        {
            ["driver"] = "file",
            ["node-name"] = $"file-{disk.Id}",
            ["filename"] = path,
            ["discard"] = "unmap",
        }, ct);
        await qmp.ExecuteAsync("blockdev-add", new Dictionary<string, object>
        {
            ["driver"] = "qcow2",
            ["node-name"] = disk.Id,
            ["file"] = $"file-{disk.Id}",
            ["discard"] = "unmap",
        }, ct);
        try
        {
            await DeviceAddAsync(qmp, new Dictionary<string, object> { ["driver"] = "virtio-blk-pci", ["id"] = $"disk-{disk.Id}", ["drive"] = disk.Id }, ct);
        }
        catch
        {
            await TryAsync(qmp, "blockdev-del", new Dictionary<string, object> { ["node-name"] = disk.Id });
            await TryAsync(qmp, "blockdev-del", new Dictionary<string, object> { ["node-name"] = $"file-{disk.Id}" });
            throw;
        }
    }

    internal static async Task RemoveDiskAsync(QmpClient qmp, VmRuntime vm, DiskSpec disk, CancellationToken ct)
    {
        await UnplugAsync(qmp, vm, $"disk-{disk.Id}", ct);
        await qmp.ExecuteAsync("blockdev-del", new Dictionary<string, object> { ["node-name"] = disk.Id }, ct);
        await qmp.ExecuteAsync("blockdev-del", new Dictionary<string, object> { ["node-name"] = $"file-{disk.Id}" }, ct);
    }

    public static async Task AddNicAsync(QmpClient qmp, NicSpec nic, CancellationToken ct)
    {
        await qmp.ExecuteAsync("netdev_add", new Dictionary<string, object> { ["type"] = "user", ["id"] = nic.Id }, ct);
        try
        {
            await DeviceAddAsync(qmp, new Dictionary<string, object>
            {
                ["driver"] = "virtio-net-pci",
                ["id"] = $"nic-{nic.Id}",
                ["netdev"] = nic.Id,
                ["mac"] = nic.Mac.ToLowerInvariant(),
            }, ct);
        }
        catch
        {
            await TryAsync(qmp, "netdev_del", new Dictionary<string, object> { ["id"] = nic.Id });
            throw;
        }
    }

    internal static async Task RemoveNicAsync(QmpClient qmp, VmRuntime vm, NicSpec nic, CancellationToken ct)
    {
        await UnplugAsync(qmp, vm, $"nic-{nic.Id}", ct);
        await qmp.ExecuteAsync("netdev_del", new Dictionary<string, object> { ["id"] = nic.Id }, ct);
    }

    /// <summary>Plugs <paramref name="count"/> vCPUs into the free slots <c>query-hotpluggable-cpus</c> lists (those without a qom-path).</summary>
    public static async Task AddVCpusAsync(QmpClient qmp, int count, CancellationToken ct)
    {
        var slots = (await qmp.ExecuteAsync("query-hotpluggable-cpus", ct: ct)).EnumerateArray()
            .Where(c => !c.TryGetProperty("qom-path", out _))
            .OrderBy(c => Prop(c, "socket-id")).ThenBy(c => Prop(c, "core-id")).ThenBy(c => Prop(c, "thread-id"))
            .Take(count)
            .ToList();
        if (slots.Count < count)
        {
            throw new InvalidOperationException($"QEMU has {slots.Count} free vCPU slots; {count} were asked for.");
        }

        foreach (var slot in slots)
        {
            var arguments = new Dictionary<string, object> { ["driver"] = slot.GetProperty("type").GetString()! };
            foreach (var property in slot.GetProperty("props").EnumerateObject())
            {
                arguments[property.Name] = property.Value.GetInt32();
            }

            arguments["id"] = $"vcpu-s{Prop(slot, "socket-id")}c{Prop(slot, "core-id")}t{Prop(slot, "thread-id")}";
            await qmp.ExecuteAsync("device_add", arguments, ct);
        }
    }

    private static int Prop(JsonElement slot, string name) =>
        slot.GetProperty("props").TryGetProperty(name, out var value) ? value.GetInt32() : 0;

    /// <summary>
    /// Puts the device into a root port with nothing behind it, as <c>query-pci</c> shows them. A root
    /// port has one slot, but QEMU accepts a second device at another address behind it that the
    /// guest never sees, so "try until one is refused" would be wrong.
    /// </summary>
    private static async Task DeviceAddAsync(QmpClient qmp, Dictionary<string, object> device, CancellationToken ct)
    {
        var free = FreeRootPorts(await qmp.ExecuteAsync("query-pci", ct: ct)).LastOrDefault()
            ?? throw new InvalidOperationException($"No free PCIe root port for {device["id"]}: every one holds a device.");
        device["bus"] = free;
        await qmp.ExecuteAsync("device_add", device, ct);
    }

    /// <summary>The ids of the root ports (<c>rpN</c>) with no device behind them, in order.</summary>
    public static IReadOnlyList<string> FreeRootPorts(JsonElement queryPci) =>
        [.. queryPci.EnumerateArray()
            .SelectMany(bus => bus.GetProperty("devices").EnumerateArray())
            .Where(d => d.TryGetProperty("qdev_id", out var id) && id.GetString() is { } name && name.StartsWith("rp", StringComparison.Ordinal)
                && d.TryGetProperty("pci_bridge", out var bridge)
                && (!bridge.TryGetProperty("devices", out var behind) || behind.GetArrayLength() == 0))
            .Select(d => d.GetProperty("qdev_id").GetString()!)
            .OrderBy(id => int.TryParse(id.AsSpan(2), out var n) ? n : int.MaxValue)];

    private static async Task UnplugAsync(QmpClient qmp, VmRuntime vm, string deviceId, CancellationToken ct)
    {
        var gone = vm.Unplugging.GetOrAdd(deviceId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await qmp.ExecuteAsync("device_del", new { id = deviceId }, ct);
        try
        {
            await gone.Task.WaitAsync(UnplugTimeout, ct);
        }
        catch (TimeoutException)
        {
            vm.Unplugging.TryRemove(deviceId, out _);
            throw new TimeoutException($"The guest did not release {deviceId} within {UnplugTimeout.TotalSeconds:0} s; it stays attached.");
        }
    }

    private static async Task TryAsync(QmpClient qmp, string command, object arguments)
    {
        try
        {
            await qmp.ExecuteAsync(command, arguments, timeout: TimeSpan.FromSeconds(5));
        }
        catch (QmpException)
        {
            // Cleaning up after a failure: what is already gone stays gone.
        }
    }
}
