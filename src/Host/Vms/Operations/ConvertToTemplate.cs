using Paddock.Engine.Contract;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// The stopped VM's disk, flattened (its backing chain merged in, internal snapshots left
/// behind) into a read-only image named by its checksum, kept in this host's store and handed to
/// the portal's library, from which other hosts fetch it; then the VM is gone. The image may take
/// no more than the command's limit (what its owner's image storage leaves), measured before it is written.
/// </summary>
public sealed class ConvertToTemplate(VmFiles files, ImageCache cache, VmReports reports, Portal.IPortalReporter portal, TimeProvider clock) : IVmOperation
{
    public VmVerb Verb => VmVerb.ConvertToTemplate;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var spec = vm.CreatedSpec;
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning || File.Exists(vm.Paths.StateFile))
            {
                throw new InvalidOperationException("Convert to template needs the VM stopped.");
            }

            var disk = spec.Disks[0];
            var (fileName, sha256, bytes) = await cache.AddFlattenedAsync(
                vm.Id, target => files.DisksOf(spec).CopyAsync(vm.Paths.Disk(disk.Id), files.BaseOf(disk), target, ct, command.MaxBytes, new WorkReporter(portal, command, clock)), ct);
            await cache.UploadAsync(fileName, ct);
            files.Forget(vm);
            await files.ShareImagesAsync([.. ImageAccess.ImagesOf(spec), fileName], CancellationToken.None);
            await reports.SetStateAsync(vm, VmPowerState.Missing);
            return new Outcome(null, new OperationResult(DiskBytes: bytes, Sha256: sha256));
        }
        finally
        {
            vm.Lock.Release();
        }
    }
}
