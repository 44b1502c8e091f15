using Paddock.Engine.Contract;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

/// <summary>What a VM keeps besides its disks counts as disk; a template takes its owner's image storage.</summary>
public sealed class StateStorageRulesTests
{
    private const long MiB = 1024 * 1024;

    private static Vm VmObserved(VmPowerState observed) => new() { MemoryMiB = 512, DiskBytes = 1024 * MiB, LastObserved = observed };

    [Theory]
    [InlineData(VmVerb.Save, VmPowerState.Running, true)]
    [InlineData(VmVerb.Snapshot, VmPowerState.Running, true)]
    [InlineData(VmVerb.Snapshot, VmPowerState.Paused, true)]
    [InlineData(VmVerb.Snapshot, VmPowerState.Stopped, false)]
    [InlineData(VmVerb.Start, VmPowerState.Stopped, false)]
    [InlineData(VmVerb.Restore, VmPowerState.Saved, false)]
    public void A_save_or_a_snapshot_of_a_live_vm_holds_its_memory_and_device_state(VmVerb verb, VmPowerState observed, bool holds) =>
        Assert.Equal(holds ? (512 * MiB) + VmRules.DeviceStateBytes : null, VmRules.StateBytes(VmObserved(observed), verb));

    [Fact]
    public void Saved_state_snapshot_memory_and_a_state_under_way_add_to_the_disk_usage()
    {
        var vm = VmObserved(VmPowerState.Saved);
        vm.SavedBytes = 300 * MiB;
        vm.Snapshots = [new VmSnapshot("a", true, DateTimeOffset.UnixEpoch, StateBytes: 100 * MiB), new VmSnapshot("b", false, DateTimeOffset.UnixEpoch)];
        vm.PendingState = new PendingState(Guid.NewGuid(), (50 * MiB) + 1);

        Assert.Equal(1024 + 300 + 100 + 51, QuotaService.UsageOf(vm).DiskMiB);
    }

    [Fact]
    public void A_template_being_converted_holds_its_disks_size_and_a_ready_one_its_images()
    {
        var converting = new VmTemplate { State = TemplateState.Converting, DiskBytes = 1024 * MiB, ImageBytes = null };
        var ready = new VmTemplate { State = TemplateState.Ready, DiskBytes = 1024 * MiB, ImageBytes = 90 * MiB };
        Assert.Equal(1024 * MiB, TemplateStorage.BytesOf(converting));
        Assert.Equal(90 * MiB, TemplateStorage.BytesOf(ready));
    }
}
