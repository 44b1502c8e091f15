using Paddock.Engine.Contract;

namespace Paddock.Host.Vms.Operations;

/// <summary>Stops what is being typed into the VM (and what waits to be typed).</summary>
public sealed class StopTyping(VmTyping typing) : IVmOperation
{
    public VmVerb Verb => VmVerb.StopTyping;

    public Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        typing.Stop(vm.Id);
        return Task.FromResult<Outcome>("Stopped typing.");
    }
}
