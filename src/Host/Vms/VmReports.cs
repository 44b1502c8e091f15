using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Host.Node;
using Paddock.Host.Portal;

namespace Paddock.Host.Vms;

/// <summary>What the agent tells the portal about one VM: its state as observed, pushed at every change.</summary>
public sealed class VmReports(IPortalReporter portal, ConfinementGuard guard, TimeProvider clock)
{
    public Task SetStateAsync(VmRuntime vm, VmPowerState state, string? detail = null)
    {
        vm.State = state;
        vm.Detail = detail;
        return SendAsync(vm);
    }

    public Task SendAsync(VmRuntime vm) => portal.ReportVmAsync(Of(vm));

    /// <summary>What the agent knows of the VM, with whom its QEMU really runs as (from the kernel) beside its record's label and uid.</summary>
    public VmReport Of(VmRuntime vm)
    {
        // Without an own uid per VM, QEMU runs as the agent (with an admin's leave): nothing to compare.
        var running = vm.Process is { } process && guard.Confinement.OwnUid ? ProcessUsage.TryRead(process.Pid) : null;
        return new(vm.Id, vm.State, clock.GetUtcNow(), vm.Detail, vm.Process?.Pid, vm.Spec?.Uid,
            vm.State == VmPowerState.Saved && File.Exists(vm.Paths.StateFile) ? new FileInfo(vm.Paths.StateFile).Length : null, vm.LimitsNote,
            vm.Spec?.Label, running?.Uid, running?.Gid, vm.RecordProblem, vm.Spec is { } spec ? Engine.Qemu.DeviceLayout.PortsOf(spec) : null);
    }
}
