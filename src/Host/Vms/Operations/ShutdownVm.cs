using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>Asks the guest to power off (ACPI), again and again, and powers it off after the VM's shutdown timeout.</summary>
public sealed class ShutdownVm(VmReports reports, TimeProvider clock) : IVmOperation
{
    public VmVerb Verb => VmVerb.Shutdown;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        if (!vm.IsRunning || vm.Qmp is not { } qmp)
        {
            return "Already stopped.";
        }

        var exited = vm.Exited.Task;
        var timeout = TimeSpan.FromSeconds(vm.Spec?.ShutdownTimeoutSeconds ?? 60);
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(ct, vm.Interruptible.Token);
        await reports.SetStateAsync(vm, VmPowerState.ShuttingDown);
        try
        {
            if (await PowerSequences.ShutdownAsync(qmp, exited, timeout, clock, interrupted.Token))
            {
                return Outcome.Done;
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException("Interrupted by Power off or Reset.");
        }

        await vm.PowerOffAsync();
        return $"The guest did not power off within {timeout.TotalSeconds:0} s; it was powered off.";
    }
}
