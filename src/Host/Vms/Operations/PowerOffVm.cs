using Paddock.Engine.Contract;

namespace Paddock.Host.Vms.Operations;

/// <summary>Pulls the plug at once (quit, then kill); ends a Shutdown or Reboot that waits for the guest.</summary>
public sealed class PowerOffVm : IVmOperation
{
    public VmVerb Verb => VmVerb.PowerOff;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        await vm.InterruptWaitsAsync();
        return await vm.PowerOffAsync();
    }
}
