using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>Writes the VM's whole running state to a file beside its disks and ends QEMU (<see cref="SaveRestore"/>).</summary>
public sealed class SaveVm(ConfinementGuard guard, Portal.IPortalReporter portal, TimeProvider clock) : IVmOperation
{
    public VmVerb Verb => VmVerb.Save;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var qmp = vm.RunningMonitor();
        var spec = vm.Spec!;
        var partial = Leftovers.SaveVmPartial(vm.Paths);
        vm.Saving = true;
        try
        {
            var room = DiskRoom.At(vm.Paths.RunDirectory, "saving the VM's state", (spec.MemoryMiB + SnapshotVm.DeviceStateMiB) * 1024L * 1024);
            await SaveRestore.SaveAsync(qmp, vm.Process!.Pid, vm.Paths.SaveSocket, partial, room, async c =>
            {
                // QEMU runs as the VM's uid: the socket is its to open, and nobody else's.
                RunDirectory.SecureSocket(vm.Paths.SaveSocket, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
                await guard.LabelOwnAsync(spec, vm.Paths.SaveSocket, c);
            }, ct, new SaveProgress(spec.MemoryMiB * 1024L * 1024, new WorkReporter(portal, command, clock)));
            await guard.LabelOwnAsync(spec, partial, ct);
            File.Move(partial, vm.Paths.StateFile, overwrite: true);
        }
        catch
        {
            // Still running as before: a failed save changes nothing but leaves no partial file.
            vm.Saving = false;
            File.Delete(partial);
            File.Delete(vm.Paths.SaveSocket);
            if (vm.IsRunning)
            {
                await qmp.TryAsync(q => q.ContAsync(timeout: QmpCommands.Brief));
            }

            throw;
        }

        // The state is on disk: end QEMU, freeing the host's memory. Its end is a save, not a stop.
        await vm.PowerOffAsync();
        return $"Saved {new FileInfo(vm.Paths.StateFile).Length / (1024 * 1024)} MiB.";
    }
}
