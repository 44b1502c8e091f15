using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal;

/// <summary>A live migration's steps: each outcome of one host's command leads to the next command, and every failure leaves the VM on its source.</summary>
public sealed class VmMigrationsTests
{
    private static readonly Guid From = Guid.NewGuid();
    private static readonly Guid To = Guid.NewGuid();
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-12-05T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static Vm Moving(MigrationStep step, MigrationFigures? figures = null) => new()
    {
        Id = Guid.NewGuid(),
        HostId = From,
        Status = VmStatus.Migrating,
        Migration = new VmMigration(Guid.NewGuid(), From, "host-a", To, "host-b", "token-0123456789abcdef", step, Guid.NewGuid(), Now.AddSeconds(-5), figures, 10),
    };

    private static (AgentCommand Command, OperationReport Report) Ended(Vm vm, VmVerb verb, bool succeeded, string? message = null, OperationResult? result = null)
    {
        var command = VmMigrations.Command(verb, vm, verb is VmVerb.MigrateOut or VmVerb.CancelMigration ? From : To, VmMigrations.LinkOf(vm.Migration!, vm), Now);
        return (command, new OperationReport(command.Id, vm.Id, succeeded ? OperationState.Succeeded : OperationState.Failed, message, result));
    }

    private static MigrationNext Next(Vm vm, VmVerb verb, bool succeeded, string? message = null, OperationResult? result = null)
    {
        var (command, report) = Ended(vm, verb, succeeded, message, result);
        return VmMigrations.Next(vm, command, report, Now);
    }

    private static IEnumerable<(VmVerb Verb, Guid Host)> Sent(MigrationNext next) => next.Commands.Select(c => (c.Command.Verb, c.HostId));

    private static VmOperationCompleted Completion(MigrationNext next) => Assert.Single(next.Events.OfType<VmOperationCompleted>());

    [Fact]
    public void The_destination_ready_sends_the_move_to_the_source_with_the_same_link()
    {
        var vm = Moving(MigrationStep.Preparing);
        var next = Next(vm, VmVerb.MigrateIn, true);
        Assert.Equal([(VmVerb.MigrateOut, From)], Sent(next));
        Assert.Equal(MigrationStep.Moving, Assert.IsType<VmMigrationStepped>(Assert.Single(next.Events)).Step);
        var link = next.Commands[0].Command.Migration!;
        Assert.Equal((vm.Migration!.Id, "token-0123456789abcdef", 1, 10L * 1024 * 1024), (link.MigrationId, link.Token, link.Channels, link.MaxBandwidthBytesPerSecond));
        Assert.Equal(vm.Migration.Id, next.Commands[0].MigrationId);
    }

    [Fact]
    public void A_whole_move_lets_the_destination_run_the_guest_and_keeps_the_figures()
    {
        var figures = new MigrationFigures(TimeSpan.FromSeconds(1), 64 << 20, TimeSpan.FromMilliseconds(800), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(42), 30 << 20, 256 << 20);
        var next = Next(Moving(MigrationStep.Moving), VmVerb.MigrateOut, true, result: new OperationResult(Migration: figures));
        Assert.Equal([(VmVerb.FinishMigration, To)], Sent(next));
        var stepped = Assert.IsType<VmMigrationStepped>(Assert.Single(next.Events));
        Assert.Equal((MigrationStep.Finishing, figures), (stepped.Step, stepped.Figures));
    }

    [Fact]
    public void Arrival_moves_the_vm_to_the_destination_and_removes_the_source_copy()
    {
        var figures = new MigrationFigures(TimeSpan.FromSeconds(1), 64 << 20, TimeSpan.FromMilliseconds(800), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(42), 30 << 20, 256 << 20);
        var vm = Moving(MigrationStep.Finishing, figures);
        var next = Next(vm, VmVerb.FinishMigration, true);
        Assert.Equal([(VmVerb.Delete, From)], Sent(next));
        Assert.Equal(To, Assert.Single(next.Events.OfType<VmMigrated>()).ToHostId);
        var done = Completion(next);
        Assert.True(done.Succeeded);
        Assert.Equal(vm.Migration!.Id, done.OperationId);
        Assert.StartsWith("Moved from host-a to host-b in 5.0 s; downtime 42 ms (QEMU)", done.Message);

        vm.Apply(Assert.Single(next.Events.OfType<VmMigrated>()));
        vm.Apply(done);
        Assert.Equal((To, VmStatus.Running, (VmMigration?)null), (vm.HostId, vm.Status, vm.Migration));
    }

    [Theory]
    [InlineData(VmVerb.MigrateIn, MigrationStep.Preparing, "the destination could not prepare (disk full)")]
    [InlineData(VmVerb.MigrateOut, MigrationStep.Moving, "the move failed (disk full)")]
    public void A_failure_before_the_switchover_cleans_the_destination_and_the_vm_stays(VmVerb verb, MigrationStep step, string why)
    {
        var next = Next(Moving(step), verb, false, "disk full.");
        Assert.Equal([(VmVerb.Delete, To)], Sent(next));
        var done = Completion(next);
        Assert.False(done.Succeeded);
        Assert.Equal($"Not moved to host-b: {why}. The VM runs on host-a.", done.Message);
    }

    [Fact]
    public void A_destination_that_does_not_run_the_guest_is_ended_and_the_source_runs_on()
    {
        var next = Next(Moving(MigrationStep.Finishing), VmVerb.FinishMigration, false, "QEMU is gone");
        Assert.Equal([(VmVerb.Delete, To), (VmVerb.CancelMigration, From)], Sent(next));
        Assert.False(Completion(next).Succeeded);
    }

    [Fact]
    public void A_move_called_off_ends_as_cancelled_even_when_it_finished_meanwhile()
    {
        var failed = Next(Moving(MigrationStep.Cancelling), VmVerb.MigrateOut, false, "Cancelled");
        Assert.Equal([(VmVerb.Delete, To)], Sent(failed));
        Assert.Equal("Cancelled; the VM runs on host-a.", Completion(failed).Message);

        var finished = Next(Moving(MigrationStep.Cancelling), VmVerb.MigrateOut, true);
        Assert.Equal([(VmVerb.Delete, To), (VmVerb.CancelMigration, From)], Sent(finished));
        Assert.Equal("Cancelled; the VM runs on host-a.", Completion(finished).Message);
    }

    [Fact]
    public void An_outcome_of_an_ended_or_other_migration_changes_nothing()
    {
        var vm = Moving(MigrationStep.Moving);
        var (command, report) = Ended(vm, VmVerb.Delete, true);
        Assert.Same(MigrationNext.Nothing, VmMigrations.Next(vm, command, report, Now));
        command.MigrationId = Guid.NewGuid();
        Assert.Same(MigrationNext.Nothing, VmMigrations.Next(vm, command, report with { State = OperationState.Failed }, Now));
        vm.Migration = null;
        Assert.Same(MigrationNext.Nothing, VmMigrations.Next(vm, command, report, Now));
    }

    [Fact]
    public void Only_a_running_idle_vm_migrates_and_never_to_its_own_host()
    {
        var vm = new Vm { HostId = From, Status = VmStatus.Running };
        Assert.Null(VmMigrations.Refusal(vm, To));
        Assert.Null(VmMigrations.Refusal(vm, null));
        Assert.Equal("The VM runs on that host already.", VmMigrations.Refusal(vm, From));
        Assert.Equal("Only a running VM migrates live; this one is stopped.", VmMigrations.Refusal(new Vm { Status = VmStatus.Stopped }, To));
        Assert.StartsWith("The VM is busy", VmMigrations.Refusal(new Vm { Status = VmStatus.Running, PendingOperation = Guid.NewGuid(), PendingVerb = VmVerb.Snapshot }, To));
        Assert.Equal("The VM is already moving to host-b.", VmMigrations.Refusal(Moving(MigrationStep.Moving), To));
        Assert.Null(VmMigrations.BandwidthProblem(null));
        Assert.NotNull(VmMigrations.BandwidthProblem(0));
    }

    [Fact]
    public void A_migration_is_called_off_at_any_step_but_the_switchover()
    {
        var migration = new VmMigration(Guid.NewGuid(), Guid.NewGuid(), "a", Guid.NewGuid(), "b", "token", MigrationStep.Moving, Guid.NewGuid(), DateTimeOffset.UnixEpoch);
        Assert.Null(VmMigrations.CancelRefusal(migration));
        Assert.Contains("switching over to b", VmMigrations.CancelRefusal(migration with { Step = MigrationStep.Finishing }));
    }
}
