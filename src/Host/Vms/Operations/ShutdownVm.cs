using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// Asks the guest to power off, through its guest agent when that answers and by ACPI otherwise
/// (and again and again), and powers it off after the VM's shutdown timeout.
/// </summary>
public sealed class ShutdownVm(VmReports reports, GuestAgents guests, TimeProvider clock) : IVmOperation
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
        var byAgent = await guests.AskAsync(vm, Engine.GuestAgent.GuestShutdownMode.Powerdown, ct);
        try
        {
            if (await PowerSequences.ShutdownAsync(qmp, exited, timeout, clock, interrupted.Token, asked: byAgent))
            {
                return byAgent ? GuestAgents.ShutDownByAgent : Outcome.Done;
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
