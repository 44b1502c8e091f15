using Paddock.Engine.Contract;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>Powers the VM off and removes it and every file of it from this host.</summary>
public sealed class DeleteVm(VmFiles files, VmReports reports) : IVmOperation
{
    public VmVerb Verb => VmVerb.Delete;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        // A migration's end on this host (its destination called off, its source's copy after the move): its channels end first.
        await vm.EndMigrationAsync();

        await vm.PowerOffAsync();
        // Once the VM is off the delete finishes, even as the agent stops: its files must not stay behind.
        await vm.Lock.WaitAsync(CancellationToken.None);
        try
        {
            var gone = vm.Spec;
            files.Forget(vm);
            // Its uid may be given to another VM next: it keeps no image of this one's.
            await files.ShareImagesAsync(gone is null ? [] : ImageAccess.ImagesOf(gone), CancellationToken.None);
        }
        finally
        {
            vm.Lock.Release();
        }

        await reports.SetStateAsync(vm, VmPowerState.Missing);
        return Outcome.Done;
    }
}
