using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// A live migration called off on its source: a move under way is cancelled (it rolls back by
/// itself), and a guest a whole move left standing still runs again: the destination's copy was
/// never told to run (it waits paused until FinishMigration), and the disks' mirrors are dropped
/// before the guest here writes again. Either way the VM runs here as before.
/// </summary>
public sealed class CancelMigration(VmReports reports) : IVmOperation
{
    public VmVerb Verb => VmVerb.CancelMigration;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        if (vm.Migration is not { } migration || migration.MigrationId != command.Migration?.MigrationId)
        {
            return "No such migration here: nothing to call off.";
        }

        if (!migration.MovedOut)
        {
            await migration.Move.CancelAsync();
            return "Cancelled.";
        }

        await LiveMigration.ResumeSourceAsync(vm.RunningMonitor(), vm.CreatedSpec.Disks, ct);
        await vm.EndMigrationAsync();
        await reports.SetStateAsync(vm, VmPowerState.Running);
        return "The VM runs here again.";
    }
}
