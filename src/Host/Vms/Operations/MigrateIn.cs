using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;
using Paddock.Host.Migration;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// A live migration's destination, first step: the VM's run directory and fresh disks as a create
/// makes them (a linked clone's overlay on its base, fetched by checksum; blank disks otherwise),
/// its QEMU started paused and waiting for the stream, and the channels dialled to the portal.
/// Anything that fails removes what was made: no half-made VM stays.
/// </summary>
public sealed class MigrateIn(CreateVm create, StartVm start, MigrationChannels channels, VmFiles files, ILogger<MigrateIn> log) : IVmOperation
{
    public VmVerb Verb => VmVerb.MigrateIn;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var link = command.Migration ?? throw new InvalidOperationException("A migration needs its link.");
        var spec = command.Spec ?? throw new InvalidOperationException("A migration's destination needs the VM's spec.");
        VmSpecValidator.Validate(spec);
        if (vm.Spec is not null)
        {
            throw new InvalidOperationException("The VM is on this host already.");
        }

        vm.Migration?.Dispose();
        vm.Migration = new MigrationState(link.MigrationId);
        try
        {
            await create.MakeAsync(vm, spec, source: null, ct);
            await RunDirectory.WriteAtomicallyAsync(vm.Paths.IncomingMarker, link.MigrationId.ToString(), ct);
            var qmp = await start.StartIncomingAsync(vm, ct);
            await LiveMigration.PrepareDestinationAsync(qmp, spec.Disks, vm.Paths.IncomingDisksSocket, vm.Paths.IncomingMemorySocket, ct);
            await channels.OpenIncomingAsync(vm, link, ct);
        }
        catch (Exception e)
        {
            log.LogWarning("Migration {Migration}: preparing VM {Vm} failed; removing what was made: {Message}", link.MigrationId, vm.Id, e.Message);
            await AbandonAsync(vm, files);
            throw;
        }

        return "Ready to receive.";
    }

    /// <summary>Ends the destination's channels and QEMU and removes its files: the VM was never here.</summary>
    internal static async Task AbandonAsync(VmRuntime vm, VmFiles files)
    {
        await vm.EndMigrationAsync();
        await vm.PowerOffAsync();
        await vm.Lock.WaitAsync(CancellationToken.None);
        try
        {
            files.Forget(vm);
        }
        finally
        {
            vm.Lock.Release();
        }
    }
}
