using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Vms;

public sealed class VmRulesTests
{
    private static Vm VmIn(VmStatus status, VmVerb? pending = null) =>
        new() { Status = status, PendingVerb = pending, PendingOperation = pending is null ? null : Guid.NewGuid() };

    [Theory]
    [InlineData(VmStatus.Stopped, VmVerb.Start)]
    [InlineData(VmStatus.Crashed, VmVerb.Start)]
    [InlineData(VmStatus.Running, VmVerb.Shutdown)]
    [InlineData(VmStatus.Running, VmVerb.PowerOff)]
    [InlineData(VmStatus.Paused, VmVerb.PowerOff)]
    [InlineData(VmStatus.Stopped, VmVerb.Delete)]
    public void Operation_that_fits_the_status_is_allowed(VmStatus status, VmVerb verb) =>
        Assert.Null(VmRules.Refusal(VmIn(status), verb));

    [Fact]
    public void A_vm_held_by_an_isolation_alert_neither_starts_nor_restores_but_may_be_powered_off_and_deleted()
    {
        const string alert = "label s0:c1,c9 on the host, s0:c3,c7 in the portal.";
        var held = VmIn(VmStatus.Stopped);
        held.IsolationAlert = alert;
        var saved = VmIn(VmStatus.Saved);
        saved.IsolationAlert = alert;
        var running = VmIn(VmStatus.Running);
        running.IsolationAlert = alert;
        Assert.Multiple(
            () => Assert.StartsWith("Start is held: ", VmRules.Refusal(held, VmVerb.Start)),
            () => Assert.StartsWith("Restore is held: ", VmRules.Refusal(saved, VmVerb.Restore)),
            () => Assert.Null(VmRules.Refusal(running, VmVerb.PowerOff)),
            () => Assert.Null(VmRules.Refusal(held, VmVerb.Delete)),
            () => Assert.DoesNotContain("s0:", VmRules.Refusal(held, VmVerb.Start)));
    }

    [Fact]
    public void Start_of_a_running_vm_is_refused_naming_the_state_it_needs() =>
        Assert.Equal("Start needs the VM Stopped or Crashed; it is Running.", VmRules.Refusal(VmIn(VmStatus.Running), VmVerb.Start));

    [Fact]
    public void Delete_of_a_running_vm_is_refused_with_what_to_do_first() =>
        Assert.Contains("Power it off first", VmRules.Refusal(VmIn(VmStatus.Running), VmVerb.Delete));

    [Fact]
    public void A_second_operation_is_refused_while_one_is_in_progress_naming_it() =>
        Assert.Equal("Start is in progress; wait for it to finish.", VmRules.Refusal(VmIn(VmStatus.Starting, VmVerb.Start), VmVerb.Shutdown));

    [Fact]
    public void Power_off_may_interrupt_a_shutdown_in_progress() =>
        Assert.Null(VmRules.Refusal(VmIn(VmStatus.ShuttingDown, VmVerb.Shutdown), VmVerb.PowerOff));

    [Fact]
    public void A_saved_vm_is_restored_not_started_and_may_be_deleted() =>
        Assert.Multiple(
            () => Assert.Equal("Start needs the VM Stopped or Crashed; it is Saved. Restore it to go on where it was.",
                VmRules.Refusal(VmIn(VmStatus.Saved), VmVerb.Start)),
            () => Assert.Null(VmRules.Refusal(VmIn(VmStatus.Saved), VmVerb.Restore)),
            () => Assert.Null(VmRules.Refusal(VmIn(VmStatus.Saved), VmVerb.Delete)),
            () => Assert.Equal("Save needs the VM Running or Paused; it is Stopped.", VmRules.Refusal(VmIn(VmStatus.Stopped), VmVerb.Save)));

    [Fact]
    public void A_failed_save_leaves_the_status_the_agent_last_saw()
    {
        var vm = VmIn(VmStatus.Running);
        vm.Apply(new VmStatusObserved(VmPowerState.Running, null, DateTimeOffset.UnixEpoch));
        var save = Guid.NewGuid();
        vm.Apply(new VmOperationRequested(save, VmVerb.Save, Guid.NewGuid(), DateTimeOffset.UnixEpoch));
        Assert.Equal(VmStatus.Saving, vm.Status);
        vm.Apply(new VmOperationCompleted(save, VmVerb.Save, false, "disk full", DateTimeOffset.UnixEpoch));
        Assert.Equal(VmStatus.Running, vm.Status);
        Assert.Equal("Save failed: disk full", vm.LastError);
    }

    [Fact]
    public void Reset_may_interrupt_a_reboot_in_progress() =>
        Assert.Null(VmRules.Refusal(VmIn(VmStatus.Running, VmVerb.Reboot), VmVerb.Reset));

    [Fact]
    public void Pause_may_not_interrupt_a_shutdown() =>
        Assert.Equal("Shutdown is in progress; wait for it to finish.", VmRules.Refusal(VmIn(VmStatus.ShuttingDown, VmVerb.Shutdown), VmVerb.Pause));

    [Fact]
    public void Resume_needs_a_paused_vm() =>
        Assert.Equal("Resume needs the VM Paused; it is Running.", VmRules.Refusal(VmIn(VmStatus.Running), VmVerb.Resume));

    [Fact]
    public void Send_keys_does_not_hold_the_vm_but_waits_for_a_create() =>
        Assert.Multiple(
            () => Assert.Null(VmRules.Refusal(VmIn(VmStatus.ShuttingDown, VmVerb.Shutdown), VmVerb.SendKeys)),
            () => Assert.NotNull(VmRules.Refusal(VmIn(VmStatus.Creating, VmVerb.Create), VmVerb.SendKeys)));

    [Fact]
    public void An_interrupted_task_is_no_error_on_the_vm()
    {
        var vm = VmIn(VmStatus.ShuttingDown, VmVerb.Shutdown);
        var shutdown = vm.PendingOperation!.Value;
        var powerOff = Guid.NewGuid();
        vm.Apply(new VmOperationRequested(powerOff, VmVerb.PowerOff, Guid.NewGuid(), DateTimeOffset.UnixEpoch));
        vm.Apply(new VmOperationCompleted(shutdown, VmVerb.Shutdown, false, "Interrupted by Power off or Reset.", DateTimeOffset.UnixEpoch));
        Assert.Null(vm.LastError);
        Assert.Equal(VmVerb.PowerOff, vm.PendingVerb);
    }

    [Theory]
    [InlineData(0, Paddock.Engine.Vms.RestartPolicy.Never, 3)]
    [InlineData(60, Paddock.Engine.Vms.RestartPolicy.OnCrash, 0)]
    [InlineData(60, (Paddock.Engine.Vms.RestartPolicy)7, 3)]
    public void Bad_settings_are_refused(int timeout, Paddock.Engine.Vms.RestartPolicy policy, int restarts) =>
        Assert.NotNull(VmService.ValidateSettings(new VmSettings(timeout, policy, restarts)));

    [Fact]
    public void A_pending_delete_wins_over_what_the_process_does_meanwhile() =>
        Assert.Equal(VmStatus.Deleting, VmRules.StatusAfterObservation(VmIn(VmStatus.Deleting, VmVerb.Delete), VmPowerState.Stopped));

    [Fact]
    public void Running_while_a_shutdown_is_pending_stays_shutting_down() =>
        Assert.Equal(VmStatus.ShuttingDown, VmRules.StatusAfterObservation(VmIn(VmStatus.ShuttingDown, VmVerb.Shutdown), VmPowerState.Running));

    [Fact]
    public void Projection_follows_request_observation_and_completion()
    {
        var vm = Vm.Create(
            new VmCreated(Guid.NewGuid(), Guid.NewGuid(), "a", "t", "i", 1, 256, 1, "pc-q35-7.2", Guid.NewGuid(), 5, 2_000_005, "52:54:00:00:00:01",
                Guid.NewGuid(), DateTimeOffset.UnixEpoch));
        var operation = Guid.NewGuid();
        vm.Apply(new VmOperationRequested(operation, VmVerb.Create, Guid.NewGuid(), DateTimeOffset.UnixEpoch));
        Assert.Equal(VmStatus.Creating, vm.Status);
        vm.Apply(new VmStatusObserved(VmPowerState.Starting, null, DateTimeOffset.UnixEpoch));
        Assert.Equal(VmStatus.Starting, vm.Status);
        vm.Apply(new VmStatusObserved(VmPowerState.Running, null, DateTimeOffset.UnixEpoch));
        vm.Apply(new VmOperationCompleted(operation, VmVerb.Create, true, null, DateTimeOffset.UnixEpoch));
        Assert.Equal(VmStatus.Running, vm.Status);
        Assert.Null(vm.PendingVerb);
    }

    [Theory]
    [InlineData("", "Name: required.")]
    [InlineData("   ", "Name: required.")]
    [InlineData("tab\there", "Name: no control characters.")]
    public void Bad_names_are_refused_with_the_reason(string name, string reason) =>
        Assert.Equal(reason, VmService.ValidateName(name));

    [Fact]
    public void Names_may_hold_any_printable_text_since_only_the_portal_shows_them() =>
        Assert.Null(VmService.ValidateName("web, \"db\" & cache"));

    [Fact]
    public void A_report_made_before_the_one_shown_does_not_undo_it_unless_the_hosts_clock_stepped_far_back_or_the_vm_moved()
    {
        var at = new DateTimeOffset(2026, 12, 6, 6, 0, 13, TimeSpan.Zero);
        var vm = VmIn(VmStatus.Running);
        Assert.False(VmRules.Superseded(vm, at));
        // The power-off's own report (Stopped), then the state of every VM read a moment before it (Running).
        vm.Apply(new VmStatusObserved(VmPowerState.Stopped, null, at));
        Assert.Multiple(
            () => Assert.True(VmRules.Superseded(vm, at.AddMilliseconds(-1))),
            () => Assert.False(VmRules.Superseded(vm, at)),
            () => Assert.False(VmRules.Superseded(vm, at.AddMilliseconds(1))),
            () => Assert.False(VmRules.Superseded(vm, at - VmRules.ClockStepAllowance - TimeSpan.FromSeconds(1))));
        vm.Apply(new VmMigrated(Guid.NewGuid(), Guid.NewGuid(), "other", at));
        Assert.False(VmRules.Superseded(vm, at.AddSeconds(-5)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(17)]
    public void Absurd_vcpu_counts_are_refused(int vcpus) => Assert.NotNull(VmSizes.ValidateVCpus(vcpus));

    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    [InlineData(1_000_000)]
    public void Absurd_memory_sizes_are_refused(int mib) => Assert.NotNull(VmSizes.ValidateMemory(mib));
}
