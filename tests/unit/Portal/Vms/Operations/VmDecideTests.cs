using Paddock.Engine.Contract;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Features.Vms.Operations;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Vms.Operations;

public sealed class VmDecideTests
{
    private static readonly OperationStamp Stamp = new(Guid.NewGuid(), Guid.NewGuid(), new DateTimeOffset(2026, 5, 1, 12, 0, 0, TimeSpan.Zero));

    private static Vm VmIn(VmStatus status, VmPowerState? observed = null) => new()
    {
        Id = Guid.NewGuid(), Name = "web", Status = status, LastObserved = observed, VCpus = 1, MemoryMiB = 256,
        DiskBytes = 128L << 20, Mac = "52:54:00:00:00:01", Settings = VmSettings.Default,
    };

    [Fact]
    public void Start_of_a_stopped_vm_records_the_operation_and_queues_its_command()
    {
        var vm = VmIn(VmStatus.Stopped);

        var decision = VmDecide.Simple(vm, new StartVm(vm.Id), Stamp, unconfined: null);

        Assert.Equal(new VmOperationRequested(Stamp.OperationId, VmVerb.Start, Stamp.By, Stamp.At), Assert.Single(decision.Events));
        Assert.Equal(new VmCommand(Stamp.OperationId, vm.Id, VmVerb.Start), decision.Command);
        Assert.Equal("Start 'web'", decision.Audit);
        Assert.Equal(QuotaUsage.Zero, decision.Growth);
    }

    [Fact]
    public void Start_of_a_running_vm_is_refused_with_the_rules_reason() =>
        Assert.Equal("Start needs the VM Stopped or Crashed; it is Running.", Assert.Throws<RefusedException>(() =>
            VmDecide.Simple(VmIn(VmStatus.Running), new StartVm(Guid.NewGuid()), Stamp, unconfined: null)).Message);

    [Fact]
    public void Start_on_a_host_without_walls_is_refused_but_power_off_is_not()
    {
        Assert.Equal("no walls", Assert.Throws<RefusedException>(() =>
            VmDecide.Simple(VmIn(VmStatus.Stopped), new StartVm(Guid.NewGuid()), Stamp, unconfined: "no walls")).Message);
        Assert.NotNull(VmDecide.Simple(VmIn(VmStatus.Running), new PowerOffVm(Guid.NewGuid()), Stamp, unconfined: "no walls"));
    }

    [Fact]
    public void Save_holds_the_memory_and_device_state_against_the_disk_quota()
    {
        var decision = VmDecide.Simple(VmIn(VmStatus.Running, VmPowerState.Running), new SaveVm(Guid.NewGuid()), Stamp, unconfined: null);

        var bytes = (256L << 20) + VmRules.DeviceStateBytes;
        Assert.Equal(bytes, Assert.IsType<VmOperationRequested>(decision.Events[0]).StateBytes);
        Assert.Equal(new QuotaUsage(0, 0, 0, QuotaUsage.MiB(bytes)), decision.Growth);
    }

    [Fact]
    public void A_snapshot_of_a_stopped_vm_holds_no_state_and_names_itself_in_the_audit()
    {
        var decision = VmDecide.Snapshot(VmIn(VmStatus.Stopped, VmPowerState.Stopped), new TakeSnapshot(Guid.NewGuid(), "base"), Stamp);

        Assert.Equal(QuotaUsage.Zero, decision.Growth);
        Assert.Equal("base", decision.Command.Snapshot);
        Assert.Equal("Snapshot 'web' (base)", decision.Audit);
    }

    [Fact]
    public void A_taken_snapshot_name_is_refused_on_the_name_field()
    {
        var vm = VmIn(VmStatus.Stopped);
        vm.Snapshots.Add(new VmSnapshot("base", WithMemory: false, Stamp.At));

        var refusal = Assert.Throws<RefusedException>(() => VmDecide.Snapshot(vm, new TakeSnapshot(vm.Id, "base"), Stamp));

        Assert.Equal(("Snapshot name: 'base' is taken.", "name"), (refusal.Message, refusal.Field));
    }

    [Fact]
    public void Keys_go_to_the_agent_as_the_menu_names_them() =>
        Assert.Equal(["ctrl", "alt", "delete"], VmDecide.Keys(VmIn(VmStatus.Running), new SendKeys(Guid.NewGuid(), "Ctrl-Alt-Del"), Stamp).Command.Keys);

    [Fact]
    public void Operations_with_bad_details_are_refused_before_any_vm_is_looked_at()
    {
        Assert.Equal("keys", VmDecide.Invalid(new SendKeys(Guid.NewGuid(), "Ctrl-Alt-Nope"))?.Field);
        Assert.Equal("name", VmDecide.Invalid(new RevertSnapshot(Guid.NewGuid(), "../etc"))?.Field);
        Assert.Equal("settings", VmDecide.Invalid(new ConfigureVm(Guid.NewGuid(), VmSettings.Default with { MaxRestartsPerHour = 0 }))?.Field);
        Assert.Null(VmDecide.Invalid(new StartVm(Guid.NewGuid())));
    }

    [Fact]
    public void A_medium_change_carries_the_iso_file_and_shows_its_library_name()
    {
        var iso = new LibraryImage { Sha256 = "abc", Name = "Alpine", Kind = Paddock.Engine.Images.ImageKind.Iso };

        var decision = VmDecide.Medium(VmIn(VmStatus.Stopped), new ChangeMedium(Guid.NewGuid(), Guid.NewGuid()), Stamp, iso);

        Assert.Equal(("abc.iso", "Alpine"), (decision.Command.Image, decision.DisplayName));
    }

    [Fact]
    public void More_vcpus_are_asked_for_and_admitted_as_growth()
    {
        var decision = VmDecide.Hardware(VmIn(VmStatus.Stopped), new ChangeHardware(Guid.NewGuid(), new HardwareChange(HardwareAction.SetVCpus, VCpus: 3)), Stamp);

        Assert.Equal(3, decision.Command.Spec!.VCpus);
        Assert.Equal(3, Assert.IsType<VmHardwareRequested>(decision.Events[1]).VCpus);
        Assert.Equal(new QuotaUsage(0, 2, 0, 0), decision.Growth);
    }

    [Fact]
    public void The_boot_order_changes_only_while_the_vm_is_stopped()
    {
        var settings = VmSettings.Default with { BootOrder = VmSettings.CdromFirst };

        var refusal = Assert.Throws<RefusedException>(() => VmDecide.Settings(VmIn(VmStatus.Running), new ConfigureVm(Guid.NewGuid(), settings), Stamp));
        var decision = VmDecide.Settings(VmIn(VmStatus.Stopped), new ConfigureVm(Guid.NewGuid(), settings), Stamp);

        // The VM's state refuses it (409), not the value (422): the same boot order is fine once stopped.
        Assert.Null(refusal.Field);
        Assert.Equal(new VmSettingsChanged(settings, Stamp.By, Stamp.At), decision.Events[1]);
        Assert.Equal(settings.BootDevices, decision.Command.Spec!.BootOrder);
    }

    [Fact]
    public void Only_the_simple_verbs_have_a_simple_operation()
    {
        Assert.IsType<PowerOffVm>(SimpleOperation.Of(Guid.NewGuid(), VmVerb.PowerOff));
        Assert.Null(SimpleOperation.Of(Guid.NewGuid(), VmVerb.ChangeHardware));
        Assert.Null(SimpleOperation.Of(Guid.NewGuid(), VmVerb.Create));
    }
}
