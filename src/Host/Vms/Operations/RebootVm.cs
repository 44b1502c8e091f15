using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// Asks the guest to restart, through its guest agent when that answers and by Ctrl-Alt-Del
/// otherwise, and resets it after the VM's shutdown timeout.
/// </summary>
public sealed class RebootVm(ResetVm reset, GuestAgents guests) : IVmOperation
{
    public VmVerb Verb => VmVerb.Reboot;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var qmp = vm.RunningMonitor();
        var timeout = TimeSpan.FromSeconds(vm.Spec?.ShutdownTimeoutSeconds ?? 60);
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(ct, vm.Interruptible.Token);
        var resetSeen = vm.ResetSeen.Task;
        try
        {
            if (await guests.AskAsync(vm, Engine.GuestAgent.GuestShutdownMode.Reboot, ct))
            {
                if (await PowerSequences.CompletesAsync(resetSeen, timeout, interrupted.Token))
                    return GuestAgents.RebootedByAgent;
            }
            else if (await PowerSequences.RebootAsync(qmp, resetSeen, timeout, interrupted.Token))
            {
                return Outcome.Done;
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException("Interrupted by Power off or Reset.");
        }

        await reset.ResetAsync(vm);
        return $"The guest did not restart within {timeout.TotalSeconds:0} s; it was reset.";
    }
}
