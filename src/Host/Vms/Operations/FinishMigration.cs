using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// A live migration's destination, last step: the source has moved the VM whole and its guest stands
/// still, so the guest runs here (<see cref="LiveMigration.ResumeDestinationAsync"/>), limited as a
/// started VM is. From here on the VM is this host's.
/// </summary>
public sealed class FinishMigration(StartVm start) : IVmOperation
{
    public VmVerb Verb => VmVerb.FinishMigration;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        if (!vm.IsRunning || vm.Spec is null)
        {
            throw new InvalidOperationException("The VM's QEMU is not here: it cannot run the guest.");
        }

        if (vm.Migration is null && !File.Exists(vm.Paths.IncomingMarker))
        {
            // Asked again after this agent restarted: the guest ran here already.
            return "Runs here.";
        }

        var qmp = vm.RunningMonitor();
        try
        {
            // Also after this agent restarted mid-way: the whole VM arrived (the source said so), so it may run.
            await LiveMigration.ResumeDestinationAsync(qmp, ct);
        }
        catch (QmpException e)
        {
            // QEMU ends when the stream it loaded was not whole or did not fit its devices: its last words say which.
            var said = string.Join(" ", QemuProcess.ReadStderrTail(vm.Paths, 5)).Trim();
            throw new InvalidOperationException($"The destination's QEMU did not run the guest: {(said.Length > 0 ? said : e.Message)}", e);
        }

        File.Delete(vm.Paths.IncomingMarker);
        await vm.EndMigrationAsync();

        await start.ArrivedAsync(vm, qmp, ct);
        return "Runs here.";
    }
}
