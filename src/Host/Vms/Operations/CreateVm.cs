using Paddock.Engine.Contract;
using Paddock.Engine.Vms;
using Paddock.Host.Node;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// Makes the VM's run directory and disks (a linked clone of its base image, a blank disk, or a full
/// copy of a stopped VM's), writes its spec last, and starts it when asked. A VM created already is
/// not made again (a resend after a restart).
/// </summary>
public sealed class CreateVm(
    VmTable vms, VmFiles files, ImageCache cache, ConfinementGuard guard, VmReports reports, StartVm start, Portal.IPortalReporter portal, TimeProvider clock) : IVmOperation
{
    public VmVerb Verb => VmVerb.Create;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var spec = command.Spec!;
        VmSpecValidator.Validate(spec);
        // A clone copies its source's disks: the source stays stopped meanwhile (its lock is held).
        var source = command.CloneFrom is { } sourceId
            ? vms.Find(sourceId) ?? throw new InvalidOperationException("The VM to clone is not on this host.")
            : null;
        if (source is not null)
        {
            await source.Lock.WaitAsync(ct);
        }

        await vm.Lock.WaitAsync(ct);
        try
        {
            if (source is { IsRunning: true } or { State: VmPowerState.Saved })
            {
                throw new InvalidOperationException("The VM to clone must be stopped.");
            }

            if (vm.Spec is null)
            {
                await MakeOrRemoveAsync(vm, spec, source, ct, new WorkReporter(portal, command, clock));
            }
        }
        finally
        {
            vm.Lock.Release();
            source?.Lock.Release();
        }

        if (command.StartAfterCreate)
        {
            return await start.StartAsync(vm, ct);
        }

        await reports.SetStateAsync(vm, VmPowerState.Stopped);
        return Outcome.Done;
    }

    /// <summary>
    /// <see cref="MakeAsync"/>, or nothing at all: a create that fails half-way (a full disk in the
    /// middle of a clone's copy) removes its run directory and partial disks, and the host says it has no such VM.
    /// </summary>
    private async Task MakeOrRemoveAsync(VmRuntime vm, VmSpec spec, VmRuntime? source, CancellationToken ct, IProgress<WorkDone> progress)
    {
        try
        {
            await MakeAsync(vm, spec, source, ct, progress);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            files.Forget(vm);
            await reports.SetStateAsync(vm, VmPowerState.Missing);
            throw;
        }
    }

    /// <summary>
    /// The run directory, the disks (from <paramref name="source"/>'s, a base image or blank) and the spec, last.
    /// <paramref name="progress"/> hears how far the first disk's copy, or its base image's fetch, has got.
    /// </summary>
    internal async Task MakeAsync(VmRuntime vm, VmSpec spec, VmRuntime? source, CancellationToken ct, IProgress<WorkDone>? progress = null)
    {
        await reports.SetStateAsync(vm, VmPowerState.Creating);
        RunDirectory.Create(vm.Paths, guard.IdsOf(spec).Uid, guard.IdsOf(spec).Gid);
        foreach (var disk in spec.Disks)
        {
            await MakeDiskAsync(vm.Paths.Disk(disk.Id), disk, source, ct, disk == spec.Disks[0] ? progress : null);
            files.GiveToVm(spec, vm.Paths.Disk(disk.Id));
        }

        await guard.LabelOwnAsync(spec, vm.Paths.RunDirectory, ct);
        // Written last: a run directory with a spec is a VM that was created whole.
        await VmFiles.KeepSpecAsync(vm, spec, ct);
        vm.State = VmPowerState.Stopped;
        await files.ShareImagesAsync(ImageAccess.ImagesOf(spec), ct);
    }

    private async Task MakeDiskAsync(string target, DiskSpec disk, VmRuntime? source, CancellationToken ct, IProgress<WorkDone>? progress)
    {
        if (source is not null)
        {
            var from = source.Spec!.Disks.Single(d => d.Id == disk.Id);
            await files.DisksOf(source.Spec).CopyAsync(source.Paths.Disk(disk.Id), files.BaseOf(from), target, ct, progress: progress);
        }
        else if (disk.BaseImage is { } baseImage)
        {
            var basePath = await cache.EnsureAsync(baseImage, ct, progress);
            await guard.LabelSharedAsync(basePath, ct);
            await files.Disks.CreateOverlayAsync(basePath, target, disk.SizeBytes, ct: ct);
        }
        else
        {
            await files.Disks.CreateBlankAsync(target, disk.SizeBytes, ct);
        }
    }
}
