using Paddock.Engine.Vms;
using Paddock.Host.Vms;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Vms;

public sealed class VmHardwareTests
{
    private static readonly Vm Running = new() { Status = VmStatus.Running, VCpus = 1 };

    private static VmSpec Spec() => new(Guid.NewGuid(), 1, 4, 256, VmSpec.DefaultMachineType, 2_000_000,
        [new DiskSpec("disk0", 128L << 20, "base.qcow2")], [new NicSpec("net0", "52:54:00:00:00:01")]);

    [Fact]
    public void An_added_disk_takes_the_first_free_id_and_is_blank()
    {
        var spec = VmHardware.Apply(Running, Spec(), new HardwareChange(HardwareAction.AddDisk, SizeMiB: 32));

        Assert.Equal(new DiskSpec("disk1", 32L << 20, null), spec.Disks[1]);
    }

    [Fact]
    public void A_disk_only_grows_and_the_refusal_says_why() =>
        Assert.Contains("it can only grow", Assert.Throws<RefusedException>(() =>
            VmHardware.Apply(Running, Spec(), new HardwareChange(HardwareAction.GrowDisk, "disk0", 64))).Message);

    [Fact]
    public void The_boot_disk_cannot_be_removed() =>
        Assert.Equal("The boot disk cannot be removed.", Assert.Throws<RefusedException>(() =>
            VmHardware.Apply(Running, Spec(), new HardwareChange(HardwareAction.RemoveDisk, "disk0"))).Message);

    [Fact]
    public void A_running_vm_gains_vcpus_up_to_the_maximum_but_does_not_lose_them()
    {
        var spec = Spec() with { VCpus = 2 };

        Assert.Equal(4, VmHardware.Apply(Running, spec, new HardwareChange(HardwareAction.SetVCpus, VCpus: 4)).VCpus);
        Assert.Contains("between 1 and 4",
            Assert.Throws<RefusedException>(() => VmHardware.Apply(Running, spec, new HardwareChange(HardwareAction.SetVCpus, VCpus: 5))).Message);
        Assert.Contains("power it off",
            Assert.Throws<RefusedException>(() => VmHardware.Apply(Running, spec, new HardwareChange(HardwareAction.SetVCpus, VCpus: 1))).Message);
        Assert.Equal(1, VmHardware.Apply(new Vm { Status = VmStatus.Stopped }, spec, new HardwareChange(HardwareAction.SetVCpus, VCpus: 1)).VCpus);
    }

    [Fact]
    public void The_agent_sees_what_to_plug_and_unplug_between_two_specs()
    {
        var current = Spec() with { Disks = [new DiskSpec("disk0", 128L << 20, "base.qcow2"), new DiskSpec("disk1", 32L << 20, null)] };
        var wanted = current with
        {
            VCpus = 3,
            Disks = [new DiskSpec("disk0", 256L << 20, "base.qcow2"), new DiskSpec("disk2", 8L << 20, null)],
            Nics = [.. current.Nics, new NicSpec("net1", "52:54:00:00:00:02")],
        };

        var diff = HardwareDiff.Between(current, wanted);

        Assert.Equal(["disk2"], diff.AddedDisks.Select(d => d.Id));
        Assert.Equal(["disk1"], diff.RemovedDisks.Select(d => d.Id));
        Assert.Equal(["disk0"], diff.GrownDisks.Select(g => g.To.Id));
        Assert.Equal(["net1"], diff.AddedNics.Select(n => n.Id));
        Assert.Equal(2, diff.AddedVCpus);
    }

    [Fact]
    public void The_agent_refuses_to_shrink_a_disk_even_if_asked() =>
        Assert.Throws<InvalidOperationException>(() => HardwareDiff.Between(Spec(), Spec() with { Disks = [new DiskSpec("disk0", 64L << 20, "base.qcow2")] }));
}
