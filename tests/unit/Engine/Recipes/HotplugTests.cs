using System.Text.Json;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Unit.Engine.Qmp;

namespace Paddock.Unit.Engine.Recipes;

public sealed class HotplugTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    // query-pci of a q35 VM with disk0 in rp0, net0 in rp1 and a hot-added disk in rp7 (QEMU 7.2).
    private static JsonElement Recorded =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Engine", "Recipes", "query-pci-rp0-rp1-rp7-taken.json"))).RootElement;

    // On one line, as QMP sends it.
    private static string QueryPci => JsonSerializer.Serialize(Recorded);

    [Fact]
    public void Only_root_ports_with_nothing_behind_them_are_free()
    {
        var devices = QmpPciDevice.ListFrom(Recorded);

        Assert.Equal(["rp2", "rp3", "rp4", "rp5", "rp6"], Hotplug.FreeRootPorts(devices));
    }

    [Fact]
    public async Task A_disk_an_earlier_add_put_into_the_guest_is_found_in_its_root_port()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var finding = Hotplug.PortOfDiskAsync(qmp, new DiskSpec("disk1", 1 << 20, null), CancellationToken.None);
        await connection.ExpectAsync("query-pci", QueryPci);
        Assert.Equal("rp7", await finding.WaitAsync(Patience));

        var missing = Hotplug.PortOfDiskAsync(qmp, new DiskSpec("disk2", 1 << 20, null), CancellationToken.None);
        await connection.ExpectAsync("query-pci", QueryPci);
        Assert.Null(await missing.WaitAsync(Patience));
    }

    [Fact]
    public async Task A_disk_is_added_as_a_blank_qcow2_node_in_a_free_root_port()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var adding = Hotplug.AddDiskAsync(qmp, "/vms/x/data.qcow2", new DiskSpec("data", 1 << 30, null), CancellationToken.None);
        var file = (await connection.ExpectAsync("blockdev-add")).GetProperty("arguments");
        var qcow2 = (await connection.ExpectAsync("blockdev-add")).GetProperty("arguments");
        await connection.ExpectAsync("query-pci", QueryPci);
        var device = (await connection.ExpectAsync("device_add")).GetProperty("arguments");
        Assert.Equal("rp6", await adding.WaitAsync(Patience));

        Assert.Equal(("file", "file-data", "/vms/x/data.qcow2"),
            (file.GetProperty("driver").GetString(), file.GetProperty("node-name").GetString(), file.GetProperty("filename").GetString()));
        Assert.Equal(("qcow2", "data", "file-data"),
            (qcow2.GetProperty("driver").GetString(), qcow2.GetProperty("node-name").GetString(), qcow2.GetProperty("file").GetString()));
        Assert.Equal(JsonValueKind.Null, qcow2.GetProperty("backing").ValueKind);
        Assert.Equal(("virtio-blk-pci", "disk-data", "data", "rp6"),
            (device.GetProperty("driver").GetString(), device.GetProperty("id").GetString(), device.GetProperty("drive").GetString(),
                device.GetProperty("bus").GetString()));
    }

    [Fact]
    public async Task A_refused_device_add_deletes_the_disks_nodes_again()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var adding = Hotplug.AddDiskAsync(qmp, "/vms/x/data.qcow2", new DiskSpec("data", 1 << 30, null), CancellationToken.None);
        await connection.ExpectAsync("blockdev-add");
        await connection.ExpectAsync("blockdev-add");
        await connection.ExpectAsync("query-pci", QueryPci);
        var device = await connection.ReceiveAsync();
        await connection.ErrorAsync(device, "Bus 'rp6' does not support hotplugging");
        var first = await connection.ExpectAsync("blockdev-del");
        var second = await connection.ExpectAsync("blockdev-del");

        await Assert.ThrowsAsync<QmpErrorException>(() => adding.WaitAsync(Patience));
        Assert.Equal("data", first.GetProperty("arguments").GetProperty("node-name").GetString());
        Assert.Equal("file-data", second.GetProperty("arguments").GetProperty("node-name").GetString());
    }

    [Fact]
    public async Task A_nic_backend_goes_only_after_the_guest_let_go_of_the_device()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        var removals = new DeviceRemovals();

        var removing = Hotplug.RemoveNicAsync(qmp, removals, new NicSpec("net1", "52:54:00:12:34:56"), CancellationToken.None);
        var del = await connection.ExpectAsync("device_del");
        Assert.Equal("nic-net1", del.GetProperty("arguments").GetProperty("id").GetString());
        await Task.Delay(100);
        Assert.False(removing.IsCompleted);
        removals.Deleted("nic-net1");
        var netdev = await connection.ExpectAsync("netdev_del");
        await removing.WaitAsync(Patience);

        Assert.Equal("net1", netdev.GetProperty("arguments").GetProperty("id").GetString());
    }

    [Fact]
    public async Task Ejecting_a_disc_releases_the_nodes_a_boot_disc_came_with_and_minds_no_missing_ones()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);

        var ejecting = Hotplug.ChangeMediumAsync(qmp, "cd0", null, CancellationToken.None);
        var eject = await connection.ExpectAsync("eject");
        var first = await connection.ReceiveAsync();
        await connection.ErrorAsync(first, "Failed to find node with node-name='cd0'");
        await connection.ExpectAsync("blockdev-del");
        await ejecting.WaitAsync(Patience);

        Assert.Equal("cdrom-cd0", eject.GetProperty("arguments").GetProperty("id").GetString());
        Assert.True(eject.GetProperty("arguments").GetProperty("force").GetBoolean());
    }
}
