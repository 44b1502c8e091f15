using Paddock.Engine.Hosting;
using Paddock.Engine.Qemu;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Qemu;

/// <summary>Where each device sits: a saved state or a migration loads only into a QEMU whose devices sit where they sat.</summary>
public sealed class DeviceLayoutTests
{
    private static VmSpec Spec(IReadOnlyList<DiskSpec> disks, IReadOnlyList<NicSpec> nics) =>
        new(Guid.Parse("0d0c0000-0000-4000-8000-00000000abcd"), 1, 1, 256, VmSpec.DefaultMachineType, 200_000, disks, nics);

    [Fact]
    public void Without_recorded_ports_the_devices_sit_where_a_cold_boot_always_put_them()
    {
        var placed = DeviceLayout.WithPorts(Spec([new("disk0", 1 << 30, null), new("disk1", 1 << 20, null)], [new("net0", "52:54:00:00:00:01")]));
        Assert.Equal(["rp0", "rp1"], placed.Disks.Select(d => d.Port));
        Assert.Equal("rp2", Assert.Single(placed.Nics).Port);
        Assert.Equal("rp3", placed.BalloonPort);
        Assert.Equal(DeviceLayout.PortsOf(placed), DeviceLayout.PortsOf(DeviceLayout.WithPorts(placed)));
    }

    [Fact]
    public void A_hotplugged_device_keeps_its_port_and_the_others_keep_the_places_they_had_before_it()
    {
        // Booted with disk0 and net0 (balloon in rp2); disk1 then hotplugged into the last free port.
        var booted = DeviceLayout.WithPorts(Spec([new("disk0", 1 << 30, null)], [new("net0", "52:54:00:00:00:01")]));
        var hotplugged = booted with { Disks = [.. booted.Disks, new DiskSpec("disk1", 1 << 20, null) { Port = "rp7" }] };
        var again = DeviceLayout.WithPorts(hotplugged);
        Assert.Equal(["rp0", "rp7"], again.Disks.Select(d => d.Port));
        Assert.Equal("rp1", again.Nics[0].Port);
        Assert.Equal("rp2", again.BalloonPort);

        // A spec from before any port was kept, with a hot-added disk whose port is known: the others skip it.
        var old = DeviceLayout.WithPorts(Spec([new("disk0", 1 << 30, null), new("disk1", 1 << 20, null) { Port = "rp1" }], [new("net0", "52:54:00:00:00:01")]));
        Assert.Equal(["rp0", "rp1"], old.Disks.Select(d => d.Port));
        Assert.Equal("rp2", old.Nics[0].Port);
        Assert.Equal("rp3", old.BalloonPort);
    }

    [Fact]
    public void A_spec_from_the_portal_takes_the_ports_the_host_recorded_for_the_devices_it_still_has()
    {
        var current = DeviceLayout.WithPorts(Spec([new("disk0", 1 << 30, null), new("disk1", 1 << 20, null) { Port = "rp7" }], [new("net0", "52:54:00:00:00:01")]));
        var wanted = Spec([new("disk0", 2L << 30, null), new("disk1", 1 << 20, null), new("disk2", 1 << 20, null)], []);
        var kept = DeviceLayout.Carry(current, wanted);
        Assert.Equal(["rp0", "rp7", null], kept.Disks.Select(d => d.Port));
        Assert.Equal(2L << 30, kept.Disks[0].SizeBytes);
        Assert.Empty(kept.Nics);
        Assert.Equal(current.BalloonPort, kept.BalloonPort);
        Assert.Same(wanted, DeviceLayout.Carry(null, wanted));
    }

    [Fact]
    public void The_command_line_puts_each_device_in_its_recorded_port_and_refuses_a_port_that_is_not_one()
    {
        var spec = DeviceLayout.WithPorts(Spec([new("disk0", 1 << 30, null)], [])) is var s
            ? s with { Disks = [.. s.Disks, new DiskSpec("disk1", 1 << 20, null) { Port = "rp7" }] }
            : null!;
        var argv = QemuCommandLine.Build(spec, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default);
        Assert.Contains(argv, a => a.StartsWith("virtio-blk-pci,id=disk-disk1,drive=disk1,bus=rp7", StringComparison.Ordinal));
        Assert.Contains("virtio-balloon-pci,id=balloon0,bus=rp1", argv);

        var forged = spec with { Disks = [spec.Disks[0] with { Port = "rp1,addr=0x5" }] };
        Assert.Throws<InvalidVmSpecException>(() => QemuCommandLine.Build(forged, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default));
        var twice = spec with { BalloonPort = "rp7" };
        Assert.Throws<InvalidVmSpecException>(() => QemuCommandLine.Build(twice, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default));
        var beyond = spec with { BalloonPort = "rp9" };
        Assert.Throws<ArgumentException>(() => QemuCommandLine.Build(beyond, new VmPaths("/run/vm"), Accelerator.Tcg, QemuLaunchOptions.Default));
    }
}
