using Paddock.Engine.Contract;

namespace Paddock.Host.Vms.Operations;

/// <summary>Starts a saved VM from its state file (<see cref="Paddock.Engine.Recipes.SaveRestore"/>).</summary>
public sealed class RestoreVm(StartVm start, Portal.IPortalReporter portal, TimeProvider clock) : IVmOperation
{
    public VmVerb Verb => VmVerb.Restore;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct) =>
        await start.StartAsync(vm, ct, new WorkReporter(portal, command, clock));
}
