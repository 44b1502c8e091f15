using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;
using Paddock.Portal.Features.Maintenance;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Maintenance;

/// <summary>
/// An evacuation's state machine: never more moves at once than its concurrency, a failed VM tried
/// again after a delay and given up after its retries, a cancel that starts nothing new, and an end.
/// </summary>
public sealed class EvacuationsTests
{
    private static readonly Guid Host = Guid.NewGuid();
    private static readonly Guid Elsewhere = Guid.NewGuid();
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-12-05T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(10);

    private static Vm Vm(string name, VmStatus status = VmStatus.Running) =>
        new() { Id = Guid.NewGuid(), Name = name, HostId = Host, Status = status, PlacedOn = "leaving", MemoryMiB = 128 };

    private static HostEvacuation Evacuation(IEnumerable<Vm> vms, EvacuationKind kind = EvacuationKind.Evacuate, int concurrency = 2, Vm[]? shutDown = null) => new()
    {
        Id = Host,
        HostName = "leaving",
        Kind = kind,
        Concurrency = concurrency,
        Retries = 2,
        Items = [.. vms.Select(v => new EvacuationItem(v.Id, v.Name, EvacuationIntent.Move)), .. (shutDown ?? []).Select(v => new EvacuationItem(v.Id, v.Name, EvacuationIntent.ShutDown))],
    };

    private static Dictionary<Guid, Vm> ById(params Vm[] vms) => vms.ToDictionary(v => v.Id);

    private static readonly Dictionary<Guid, VmOperationCompleted> NoEndings = [];

    /// <summary>One look: observe, then the steps due.</summary>
    private static (List<EvacuationItem> Items, List<EvacuationStep> Steps) Look(HostEvacuation e, Dictionary<Guid, Vm> vms, Dictionary<Guid, VmOperationCompleted>? endings = null, DateTimeOffset? at = null)
    {
        var items = Evacuations.Observe(e, vms, endings ?? NoEndings, at ?? Now, Delay);
        return (items, Evacuations.Steps(e, items, vms, at ?? Now));
    }

    private static VmMigration Migration(Guid id, MigrationStep step = MigrationStep.Moving) =>
        new(id, Host, "leaving", Elsewhere, "other", "token", step, Guid.NewGuid(), Now);

    /// <summary>The VM as its migration leaves it: moving, and once ended with its task's completion.</summary>
    private static void Moving(Vm vm, Guid migration, MigrationStep step = MigrationStep.Moving) => (vm.Migration, vm.Status) = (Migration(migration, step), VmStatus.Migrating);

    private static VmOperationCompleted Ended(Vm vm, Guid migration, bool succeeded, string message)
    {
        (vm.Migration, vm.Status) = (null, VmStatus.Running);
        if (succeeded)
        {
            (vm.HostId, vm.PlacedOn) = (Elsewhere, "other");
        }

        return new VmOperationCompleted(migration, VmVerb.MigrateOut, succeeded, message, Now);
    }

    [Fact]
    public void No_more_moves_start_at_once_than_the_concurrency_and_a_move_that_ended_frees_its_slot()
    {
        Vm a = Vm("a"), b = Vm("b"), c = Vm("c");
        var e = Evacuation([a, b, c]);
        var vms = ById(a, b, c);

        var (items, steps) = Look(e, vms);
        Assert.Equal([new StartMove(a.Id, null), new StartMove(b.Id, null)], steps);

        // Both started; a arrives.
        var (ma, mb) = (Guid.NewGuid(), Guid.NewGuid());
        e.Items = [Evacuations.Started(items[0], ma), Evacuations.Started(items[1], mb), items[2]];
        Moving(a, ma);
        Moving(b, mb);
        Assert.Empty(Look(e, vms).Steps);

        var endings = new Dictionary<Guid, VmOperationCompleted> { [ma] = Ended(a, ma, true, "Moved from leaving to other in 3.1 s.") };
        (items, steps) = Look(e, vms, endings);
        Assert.Equal((EvacuationItemState.Moved, "other"), (items[0].State, items[0].ToHost));
        Assert.Equal((EvacuationItemState.Moving, "other"), (items[1].State, items[1].ToHost));
        Assert.Equal([new StartMove(c.Id, null)], steps);
    }

    [Fact]
    public void A_failed_move_waits_the_delay_is_tried_again_and_is_reported_failed_after_its_retries()
    {
        var vm = Vm("flaky");
        var e = Evacuation([vm]);
        var vms = ById(vm);
        var at = Now;
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var (items, steps) = Look(e, vms, at: at);
            Assert.Equal([new StartMove(vm.Id, null)], steps);
            var migration = Guid.NewGuid();
            e.Items = [Evacuations.Started(items[0], migration)];
            Moving(vm, migration);
            var endings = new Dictionary<Guid, VmOperationCompleted> { [migration] = Ended(vm, migration, false, "Not moved to other: the move failed.") };

            (items, steps) = Look(e, vms, endings, at);
            e.Items = items;
            Assert.Empty(steps);
            if (attempt < 3)
            {
                Assert.Equal((EvacuationItemState.Waiting, at + Delay, "Not moved to other: the move failed."), (items[0].State, items[0].NotBefore, items[0].Reason));
                Assert.Empty(Look(e, vms, at: at + Delay - TimeSpan.FromSeconds(1)).Steps);
                at += Delay;
            }
            else
            {
                Assert.Equal((EvacuationItemState.Failed, 3), (items[0].State, items[0].Attempts));
                Assert.Equal(EvacuationState.Done, Evacuations.StateAfter(EvacuationState.Running, items));
            }
        }

        Assert.Empty(Look(e, vms, at: at + TimeSpan.FromHours(1)).Steps);
    }

    [Fact]
    public void A_move_refused_at_once_counts_as_an_attempt()
    {
        var vm = Vm("refused");
        var e = Evacuation([vm]);

        var item = Evacuations.Refused(e, e.Items[0], "No host can take 1 GiB of memory right now.", Now, Delay);
        Assert.Equal((EvacuationItemState.Waiting, 1, Now + Delay), (item.State, item.Attempts, item.NotBefore));

        item = Evacuations.Refused(e, Evacuations.Refused(e, item, "again", Now, Delay), "and again", Now, Delay);
        Assert.Equal((EvacuationItemState.Failed, "and again"), (item.State, item.Reason));
    }

    [Fact]
    public void VMs_stopped_deleted_or_moved_by_someone_else_meanwhile_are_not_waited_for()
    {
        Vm stopped = Vm("stopped", VmStatus.Stopped), deleted = Vm("deleted"), moved = Vm("moved"), adopted = Vm("adopted");
        moved.HostId = Elsewhere;
        var theirs = Guid.NewGuid();
        Moving(adopted, theirs);
        var e = Evacuation([stopped, deleted, moved, adopted]);

        var (items, steps) = Look(e, ById(stopped, moved, adopted));

        Assert.Equal(
            [(EvacuationItemState.Skipped, "stopped meanwhile; only a running VM moves live"), (EvacuationItemState.Skipped, "deleted meanwhile"),
             (EvacuationItemState.Moved, null), (EvacuationItemState.Moving, null)],
            items.Select(i => (i.State, i.Reason)));
        Assert.Equal(theirs, items[3].MigrationId);
        Assert.Empty(steps);
    }

    [Fact]
    public void A_cancel_starts_nothing_new_calls_off_moves_that_still_can_be_and_ends_cancelled()
    {
        Vm waiting = Vm("waiting"), moving = Vm("moving"), switching = Vm("switching");
        var e = Evacuation([waiting, moving, switching], concurrency: 3);
        var (m1, m2) = (Guid.NewGuid(), Guid.NewGuid());
        e.Items = [e.Items[0], Evacuations.Started(e.Items[1], m1), Evacuations.Started(e.Items[2], m2)];
        Moving(moving, m1);
        Moving(switching, m2, MigrationStep.Finishing);
        e.State = EvacuationState.Cancelling;
        var vms = ById(waiting, moving, switching);

        var (items, steps) = Look(e, vms);
        Assert.Equal((EvacuationItemState.Skipped, "cancelled before it moved"), (items[0].State, items[0].Reason));
        Assert.Equal([new CallOffMove(moving.Id)], steps);
        Assert.Equal(EvacuationState.Cancelling, Evacuations.StateAfter(e.State, items));

        // The call-off lands; the switchover ends on the destination.
        e.Items = items;
        var endings = new Dictionary<Guid, VmOperationCompleted>
        {
            [m1] = Ended(moving, m1, false, "Cancelled; the VM runs on leaving."),
            [m2] = Ended(switching, m2, true, "Moved from leaving to other in 2.0 s."),
        };
        (items, steps) = Look(e, vms, endings);
        Assert.Equal([EvacuationItemState.Skipped, EvacuationItemState.Skipped, EvacuationItemState.Moved], items.Select(i => i.State));
        Assert.Equal("Cancelled; the VM runs on leaving.", items[1].Reason);
        Assert.Empty(steps);
        Assert.Equal(EvacuationState.Cancelled, Evacuations.StateAfter(e.State, items));
    }

    [Fact]
    public void A_VM_chosen_to_be_shut_down_is_asked_to_and_powered_off_when_its_guest_does_not_stop()
    {
        Vm running = Vm("stubborn"), paused = Vm("paused", VmStatus.Paused);
        var e = Evacuation([], shutDown: [running, paused]);
        var vms = ById(running, paused);

        var (items, steps) = Look(e, vms);
        Assert.Equal([new StopVm(running.Id, VmVerb.Shutdown), new StopVm(paused.Id, VmVerb.PowerOff)], steps);

        // The paused one stops; the guest of the other ignores the shutdown until its timeout.
        e.Items = [Evacuations.Stopping(items[0]), Evacuations.Stopping(items[1])];
        (paused.Status, running.LastError) = (VmStatus.Stopped, "The guest did not shut down within 60 s.");
        (items, steps) = Look(e, vms);
        Assert.Equal((EvacuationItemState.Waiting, "The guest did not shut down within 60 s."), (items[0].State, items[0].Reason));
        Assert.Equal(EvacuationItemState.ShutDown, items[1].State);

        e.Items = items;
        Assert.Equal([new StopVm(running.Id, VmVerb.PowerOff)], Look(e, vms, at: Now + Delay).Steps);
    }

    [Fact]
    public void Shutdowns_do_not_take_the_slots_of_moves()
    {
        Vm a = Vm("a"), b = Vm("b");
        var e = Evacuation([a], concurrency: 1, shutDown: [b]);

        Assert.Equal([new StartMove(a.Id, null), new StopVm(b.Id, VmVerb.Shutdown)], Look(e, ById(a, b)).Steps);
    }

    [Fact]
    public void A_bring_back_moves_each_VM_to_the_host_and_is_done_when_it_is_back()
    {
        var vm = Vm("away");
        vm.HostId = Elsewhere;
        var e = Evacuation([vm], EvacuationKind.BringBack);

        var (items, steps) = Look(e, ById(vm));
        Assert.Equal([new StartMove(vm.Id, Host)], steps);

        e.Items = [Evacuations.Started(items[0], Guid.NewGuid())];
        (vm.HostId, vm.PlacedOn) = (Host, "leaving");
        items = Look(e, ById(vm), new Dictionary<Guid, VmOperationCompleted>()).Items;
        Assert.Equal((EvacuationItemState.Moved, "leaving"), (items[0].State, items[0].ToHost));
        Assert.Equal(EvacuationState.Done, Evacuations.StateAfter(EvacuationState.Running, items));
    }

    [Fact]
    public void An_evacuation_with_nothing_to_move_is_done_at_once_and_waits_for_its_earliest_retry()
    {
        Assert.Equal(EvacuationState.Done, Evacuations.StateAfter(EvacuationState.Running, []));
        EvacuationItem[] items =
        [
            new(Guid.NewGuid(), "a", EvacuationIntent.Move, NotBefore: Now + TimeSpan.FromSeconds(30)),
            new(Guid.NewGuid(), "b", EvacuationIntent.Move, NotBefore: Now + TimeSpan.FromSeconds(5)),
        ];
        Assert.Equal(Now + TimeSpan.FromSeconds(5), Evacuations.WakeAt(items));
    }

    [Fact]
    public void The_page_says_where_each_VM_stands()
    {
        var id = Guid.NewGuid();
        var item = new EvacuationItem(Guid.NewGuid(), "a", EvacuationIntent.Move, EvacuationItemState.Moving, 1, id, "other");
        var progress = new MigrationProgress(MigrationPhase.Memory, 100, 300 << 20, 64 << 20, 256 << 20, 0, null);

        Assert.Equal("moving to other: memory, 75% sent", EvacuationText.Of(item, Migration(id), progress));
        Assert.Equal("moving to other: preparing the destination", EvacuationText.Of(item, Migration(id, MigrationStep.Preparing), null));
        Assert.Equal("moved to other", EvacuationText.Of(item with { State = EvacuationItemState.Moved }, null, null));
        Assert.Equal("failed: no room", EvacuationText.Of(item with { State = EvacuationItemState.Failed, Reason = "no room" }, null, null));
        Assert.Equal("not shut down: deleted meanwhile",
            EvacuationText.Of(item with { Intent = EvacuationIntent.ShutDown, State = EvacuationItemState.Skipped, Reason = "deleted meanwhile" }, null, null));
        Assert.Equal("2 moved, 1 shut down, 1 failed", Evacuations.Summary(
            [item with { State = EvacuationItemState.Moved }, item with { State = EvacuationItemState.Moved }, item with { State = EvacuationItemState.ShutDown },
             item with { State = EvacuationItemState.Failed }]));
    }
}
