using Paddock.Engine.Contract;
using Paddock.Engine.Qmp;

namespace Paddock.Host.Vms.Operations;

/// <summary>Freezes or thaws the vCPUs (stop, cont); the new state is reported from QMP's own STOP and RESUME events.</summary>
public abstract class VCpuRunState(VmPowerState reached, Func<QmpClient, Task> send) : IVmOperation
{
    public abstract VmVerb Verb { get; }

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var qmp = vm.RunningMonitor();
        if (vm.State == reached)
        {
            return $"Already {reached}.";
        }

        await send(qmp);
        return Outcome.Done;
    }
}

public sealed class PauseVm() : VCpuRunState(VmPowerState.Paused, qmp => qmp.StopAsync())
{
    public override VmVerb Verb => VmVerb.Pause;
}

public sealed class ResumeVm() : VCpuRunState(VmPowerState.Running, qmp => qmp.ContAsync())
{
    public override VmVerb Verb => VmVerb.Resume;
}
