using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Maintenance;

/// <summary>Something the keeper does for one VM of an evacuation, in the name of the admin who started it.</summary>
public abstract record EvacuationStep(Guid VmId);

/// <summary>Start moving the VM: off the host, wherever placement picks (<paramref name="ToHostId"/> null), or back onto the host.</summary>
public sealed record StartMove(Guid VmId, Guid? ToHostId) : EvacuationStep(VmId);

/// <summary>Stop the VM where it is: <see cref="VmVerb.Shutdown"/> asks the guest; <see cref="VmVerb.PowerOff"/> (a paused VM, or a second try) pulls the plug.</summary>
public sealed record StopVm(Guid VmId, VmVerb Verb) : EvacuationStep(VmId);

/// <summary>Call off the VM's move, while it still can be.</summary>
public sealed record CallOffMove(Guid VmId) : EvacuationStep(VmId);

/// <summary>
/// An evacuation's rules, pure over the evacuation, its VMs and how their moves ended: what became
/// of each VM, what to start next (never more moves at once than its concurrency), when a failed VM
/// may be tried again and when it is given up (after its retries), and when the whole is over.
/// </summary>
public static class Evacuations
{
    /// <summary>The items after what became of their VMs: moves that ended, VMs stopped, deleted or moved by someone else, stops that took or did not.</summary>
    /// <param name="endings">How each migration an item names ended, by migration id (the VM's task), where it has.</param>
    public static List<EvacuationItem> Observe(
        HostEvacuation evacuation, IReadOnlyDictionary<Guid, Vm> vms, IReadOnlyDictionary<Guid, VmOperationCompleted> endings, DateTimeOffset now, TimeSpan retryDelay) =>
        [.. evacuation.Items.Select(item =>
            item.Ended ? item
            : vms.GetValueOrDefault(item.VmId) is not { } vm ? Skip(item, "deleted meanwhile")
            : item.Intent == EvacuationIntent.Move ? ObserveMove(evacuation, item, vm, endings, now, retryDelay)
            : ObserveStop(evacuation, item, vm, now, retryDelay))];

    private static EvacuationItem ObserveMove(
        HostEvacuation evacuation, EvacuationItem item, Vm vm, IReadOnlyDictionary<Guid, VmOperationCompleted> endings, DateTimeOffset now, TimeSpan retryDelay)
    {
        var cancelling = evacuation.State == EvacuationState.Cancelling;
        if (item.State == EvacuationItemState.Moving)
        {
            if (vm.Migration is { } under && under.Id == item.MigrationId)
            {
                return item with { ToHost = under.ToHost };
            }

            var ending = item.MigrationId is { } id ? endings.GetValueOrDefault(id) : null;
            if (ending?.Succeeded ?? Arrived(evacuation, vm))
            {
                return Moved(item, vm);
            }

            var reason = ending?.Message ?? "the move ended without saying why";
            return cancelling ? Skip(item, reason) : Failure(evacuation, item, reason, now, retryDelay);
        }

        return vm.Migration is { } migration ? item with { State = EvacuationItemState.Moving, MigrationId = migration.Id, ToHost = migration.ToHost }
            : Arrived(evacuation, vm) ? Moved(item, vm)
            : cancelling ? Skip(item, "cancelled before it moved")
            : Stopped(vm) ? Skip(item, $"{VmRules.Describe(vm.Status).ToLowerInvariant()} meanwhile; only a running VM moves live")
            : item;
    }

    private static EvacuationItem ObserveStop(HostEvacuation evacuation, EvacuationItem item, Vm vm, DateTimeOffset now, TimeSpan retryDelay) =>
        vm.HostId != evacuation.Id ? Moved(item, vm)
        : Stopped(vm) ? item with { State = EvacuationItemState.ShutDown, Reason = null, NotBefore = null }
        : vm.PendingVerb is VmVerb.Shutdown or VmVerb.PowerOff ? item with { State = EvacuationItemState.ShuttingDown }
        : evacuation.State == EvacuationState.Cancelling && item.State == EvacuationItemState.Waiting ? Skip(item, "cancelled before it was shut down")
        : item.State == EvacuationItemState.ShuttingDown ? Failure(evacuation, item, vm.LastError ?? "the VM did not stop", now, retryDelay)
        : item;

    /// <summary>What to do now: start moves while fewer than the concurrency are under way, stop the VMs chosen to be shut down; once cancelled, only call off moves.</summary>
    public static List<EvacuationStep> Steps(HostEvacuation evacuation, IReadOnlyList<EvacuationItem> items, IReadOnlyDictionary<Guid, Vm> vms, DateTimeOffset now)
    {
        var steps = new List<EvacuationStep>();
        if (evacuation.State == EvacuationState.Cancelling)
        {
            // Once the switchover has begun it is too late: those moves end by themselves.
            steps.AddRange(items
                .Where(i => i.State == EvacuationItemState.Moving && vms.GetValueOrDefault(i.VmId)?.Migration is { Step: MigrationStep.Preparing or MigrationStep.Moving } m && m.Id == i.MigrationId)
                .Select(i => new CallOffMove(i.VmId)));
            return steps;
        }

        if (evacuation.State != EvacuationState.Running)
        {
            return steps;
        }

        var slots = evacuation.Concurrency - items.Count(i => i.State == EvacuationItemState.Moving);
        foreach (var item in items.Where(i => i.State == EvacuationItemState.Waiting && (i.NotBefore is null || i.NotBefore <= now)))
        {
            var vm = vms[item.VmId];
            if (item.Intent == EvacuationIntent.ShutDown)
            {
                steps.Add(new StopVm(vm.Id, item.Attempts == 0 && vm.Status == VmStatus.Running ? VmVerb.Shutdown : VmVerb.PowerOff));
            }
            else if (slots > 0)
            {
                steps.Add(new StartMove(vm.Id, evacuation.Kind == EvacuationKind.BringBack ? evacuation.Id : null));
                slots--;
            }
        }

        return steps;
    }

    /// <summary>The item once its move started.</summary>
    public static EvacuationItem Started(EvacuationItem item, Guid migrationId) =>
        item with { State = EvacuationItemState.Moving, Attempts = item.Attempts + 1, MigrationId = migrationId, Reason = null, NotBefore = null };

    /// <summary>The item once its VM was asked to stop.</summary>
    public static EvacuationItem Stopping(EvacuationItem item) =>
        item with { State = EvacuationItemState.ShuttingDown, Attempts = item.Attempts + 1, NotBefore = null };

    /// <summary>The item whose move or stop was refused at once: an attempt, as a failed one is.</summary>
    public static EvacuationItem Refused(HostEvacuation evacuation, EvacuationItem item, string reason, DateTimeOffset now, TimeSpan retryDelay) =>
        Failure(evacuation, item with { Attempts = item.Attempts + 1 }, reason, now, retryDelay);

    /// <summary>Done (or Cancelled) once every VM's part has ended; as it was otherwise.</summary>
    public static EvacuationState StateAfter(EvacuationState state, IReadOnlyList<EvacuationItem> items) =>
        !items.All(i => i.Ended) ? state
        : state == EvacuationState.Running ? EvacuationState.Done
        : state == EvacuationState.Cancelling ? EvacuationState.Cancelled
        : state;

    /// <summary>When the earliest VM waiting to be tried again may be, if one is.</summary>
    public static DateTimeOffset? WakeAt(IReadOnlyList<EvacuationItem> items) =>
        items.Where(i => i.State == EvacuationItemState.Waiting && i.NotBefore is not null).Min(i => i.NotBefore);

    /// <summary>"3 moved, 1 shut down, 1 failed": how each VM's part ended, for the audit log and the page.</summary>
    public static string Summary(IReadOnlyList<EvacuationItem> items)
    {
        var parts = new (EvacuationItemState State, string Text)[]
        {
            (EvacuationItemState.Moved, "moved"), (EvacuationItemState.ShutDown, "shut down"), (EvacuationItemState.Failed, "failed"),
            (EvacuationItemState.Skipped, "skipped"), (EvacuationItemState.Moving, "moving"), (EvacuationItemState.ShuttingDown, "shutting down"),
            (EvacuationItemState.Waiting, "waiting"),
        };
        var counted = parts.Select(p => (Count: items.Count(i => i.State == p.State), p.Text)).Where(p => p.Count > 0).Select(p => $"{p.Count} {p.Text}").ToList();
        return counted.Count == 0 ? "no running VM" : string.Join(", ", counted);
    }

    /// <summary>Whether the VM left the host (an evacuation) or is back on it (a bring-back).</summary>
    private static bool Arrived(HostEvacuation evacuation, Vm vm) =>
        evacuation.Kind == EvacuationKind.BringBack ? vm.HostId == evacuation.Id : vm.HostId != evacuation.Id;

    /// <summary>Stopped, saved or crashed, with nothing under way: live migration leaves such a VM where it is.</summary>
    public static bool Stopped(Vm vm) => vm.Status is VmStatus.Stopped or VmStatus.Saved or VmStatus.Crashed && vm.PendingOperation is null;

    private static EvacuationItem Moved(EvacuationItem item, Vm vm) =>
        item with { State = EvacuationItemState.Moved, ToHost = vm.PlacedOn ?? item.ToHost, Reason = null, NotBefore = null };

    private static EvacuationItem Skip(EvacuationItem item, string reason) => item with { State = EvacuationItemState.Skipped, Reason = reason, NotBefore = null };

    /// <summary>A failed attempt: tried again after <paramref name="retryDelay"/> while retries are left, reported failed after that.</summary>
    private static EvacuationItem Failure(HostEvacuation evacuation, EvacuationItem item, string reason, DateTimeOffset now, TimeSpan retryDelay) =>
        item.Attempts > evacuation.Retries
            ? item with { State = EvacuationItemState.Failed, Reason = reason, MigrationId = null, NotBefore = null }
            : item with { State = EvacuationItemState.Waiting, Reason = reason, MigrationId = null, NotBefore = now + retryDelay };
}
