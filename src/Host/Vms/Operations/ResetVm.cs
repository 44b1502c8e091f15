using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>Resets the machine at once; ends a Shutdown or Reboot that waits for the guest.</summary>
public sealed class ResetVm(VmReports reports) : IVmOperation
{
    public VmVerb Verb => VmVerb.Reset;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        await vm.InterruptWaitsAsync();
        return await ResetAsync(vm);
    }

    public async Task<string?> ResetAsync(VmRuntime vm)
    {
        var qmp = vm.RunningMonitor();
        var paused = vm.State == VmPowerState.Paused;
        await PowerSequences.ResetAsync(qmp, paused);
        if (!paused && vm.State != VmPowerState.Running)
        {
            // A guest that was shutting down runs again after the reset.
            await reports.SetStateAsync(vm, VmPowerState.Running);
        }

        return null;
    }
}
