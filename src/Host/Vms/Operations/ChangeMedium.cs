using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>Changes the first CD-ROM drive's disc: through QMP while QEMU runs, and in the spec for every later boot.</summary>
public sealed class ChangeMedium(VmFiles files, ImageCache cache, ConfinementGuard guard) : IVmOperation
{
    public VmVerb Verb => VmVerb.ChangeMedium;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var image = command.Image;
        var path = image is null ? null : await cache.EnsureAsync(image, ct);
        if (path is not null)
        {
            await guard.LabelSharedAsync(path, ct);
        }

        await vm.Lock.WaitAsync(ct);
        try
        {
            var spec = vm.CreatedSpec;
            if (spec.Cdroms is not [var drive, ..])
                throw new InvalidOperationException("The VM has no CD-ROM drive.");
            var changed = spec with { Cdroms = [drive with { Image = image }, .. spec.Cdroms.Skip(1)] };
            // QEMU opens the new disc as the VM's uid: it may read it before it is asked to.
            await files.ShareImagesAsync(image is null ? [] : [image], ct, also: changed);
            if (vm.IsRunning && vm.Qmp is { } qmp)
            {
                await Hotplug.ChangeMediumAsync(qmp, drive.Id, path, ct);
            }

            await VmFiles.KeepSpecAsync(vm, changed, ct);
            await files.ShareImagesAsync(drive.Image is null ? [] : [drive.Image], ct);
            return image is null ? "Ejected." : null;
        }
        finally
        {
            vm.Lock.Release();
        }
    }
}
