using Paddock.Engine.Contract;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms.Operations;

/// <summary>Takes the portal's record of the VM as this host's (settings; after an isolation alert was resolved, its label and uid).</summary>
public sealed class ConfigureVm(VmReports reports) : IVmOperation
{
    public VmVerb Verb => VmVerb.Configure;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var spec = command.Spec ?? throw new InvalidOperationException("Configure needs a VM spec.");
        VmSpecValidator.Validate(spec);
        await vm.Lock.WaitAsync(ct);
        try
        {
            // A VM whose record did not read at start takes the portal's (an admin resolved its alert).
            if (vm.RecordProblem is null)
            {
                _ = vm.CreatedSpec;
            }

            await VmFiles.KeepSpecAsync(vm, spec, ct);
            // The portal compares what this host holds now with its record (after an isolation alert was resolved, for one).
            await reports.SendAsync(vm);
            return Outcome.Done;
        }
        finally
        {
            vm.Lock.Release();
        }
    }
}
