using Paddock.Engine.Hosting;
using Paddock.Engine.Networks;
using Paddock.Engine.Qemu;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Unit.Engine.Qmp;

namespace Paddock.Unit.Engine.Networks;

public sealed class TapNicTests
{
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: false);

    private static VmSpec Spec() => new(Guid.NewGuid(), 1, 1, 256, VmSpec.DefaultMachineType, 200_000, [new DiskSpec("os", 1L << 30, null)],
        [new NicSpec("net0", "52:54:00:00:00:01") { Network = new NicNetwork(Lab, "10.10.0.5") }, new NicSpec("net1", "52:54:00:00:00:02")]);

    [Fact]
    public void A_nic_on_a_network_is_left_off_the_command_line_but_keeps_its_root_port()
    {
        var argv = QemuCommandLine.Build(Spec(), new VmPaths("/run/paddock/vm1"), Accelerator.Tcg, QemuLaunchOptions.Default);

        Assert.DoesNotContain(argv, a => a.Contains("id=net0", StringComparison.Ordinal) || a.Contains("nic-net0", StringComparison.Ordinal));
        Assert.Contains("virtio-net-pci,id=nic-net1,netdev=net1,mac=52:54:00:00:00:02,bus=rp2", argv);
        Assert.Equal([("net0", "rp1")], QemuCommandLine.TapNicPorts(Spec()).Select(p => (p.Nic.Id, p.RootPort)));
    }

    [Fact]
    public async Task A_tap_goes_to_qemu_by_getfd_then_becomes_the_netdev_of_a_nic_in_its_root_port()
    {
        await using var session = await FakeQmpServer.SessionAsync();
        var (connection, qmp) = (session.Connection, session.Client);
        using var descriptor = File.OpenHandle("/dev/null");
        var nic = Spec().Nics[0];

        var adding = Hotplug.AddTapNicAsync(qmp, nic, descriptor, "rp1", CancellationToken.None);
        var getfd = (await connection.ExpectAsync("getfd")).GetProperty("arguments");
        var netdev = (await connection.ExpectAsync("netdev_add")).GetProperty("arguments");
        var device = (await connection.ExpectAsync("device_add")).GetProperty("arguments");
        await adding.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("tap-net0", getfd.GetProperty("fdname").GetString());
        Assert.Equal(("tap", "net0", "tap-net0", false),
            (netdev.GetProperty("type").GetString(), netdev.GetProperty("id").GetString(), netdev.GetProperty("fd").GetString(), netdev.GetProperty("vhost").GetBoolean()));
        Assert.Equal(("virtio-net-pci", "nic-net0", "net0", "52:54:00:00:00:01", "rp1"),
            (device.GetProperty("driver").GetString(), device.GetProperty("id").GetString(), device.GetProperty("netdev").GetString(),
                device.GetProperty("mac").GetString(), device.GetProperty("bus").GetString()));
    }
}
