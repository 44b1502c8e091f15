using System.Text.RegularExpressions;
using Paddock.Engine.Contract;
using Paddock.Engine.Hosting;
using Paddock.Engine.Images;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// Snapshots live inside the VM's qcow2 disks. A running VM's go through QEMU's snapshot jobs
/// (with its RAM, <see cref="SnapshotJobs"/>); a stopped VM's through qemu-img (disks only). Take,
/// revert and delete differ only in the job and the qemu-img action.
/// </summary>
public abstract partial class SnapshotVm(VmFiles files, DiskLeaks leaks, ILogger log) : IVmOperation
{
    public abstract VmVerb Verb { get; }

    /// <summary>qemu-img snapshot's action: -c, -a or -d.</summary>
    protected abstract char DiskAction { get; }

    /// <summary>What the operation does to snapshot <paramref name="name"/>, as a full disk's sentence tells it.</summary>
    protected abstract string Doing(string name);

    /// <summary>Runs the running VM's job; true when the guest's file systems were frozen around it (the snapshot is consistent).</summary>
    protected abstract Task<bool> RunJobAsync(VmRuntime vm, QmpClient qmp, string name, IReadOnlyList<string> devices, DiskRoom room, CancellationToken ct);

    /// <summary>Who hears how far a running VM's job has got (its first disk's growth, of its memory); null when nobody does.</summary>
    protected virtual IProgress<WorkDone>? ProgressOf(VmCommand command) => null;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var name = NameOf(command);
        var spec = vm.CreatedSpec;
        // A running VM's snapshot holds its memory (the portal admits it at that much); a stopped one's only tables.
        var room = DiskRoom.At(vm.Paths.RunDirectory, Doing(name),
            vm.IsRunning ? (spec.MemoryMiB + DeviceStateMiB) * MiB : MiB);
        await vm.Lock.WaitAsync(ct);
        try
        {
            if (vm.IsRunning && vm.Qmp is { } qmp)
            {
                // A resend after the agent was killed mid-way: what the first attempt did counts.
                await SnapshotJobs.SettleEarlierAsync(qmp, ct);
                var quiesced = false;
                if (!await AlreadyDoneAsync(vm, spec, name, ct))
                {
                    using var measuring = new CancellationTokenSource();
                    var growth = ProgressOf(command) is { } progress
                        ? FileGrowthProgress.ReportAsync(vm.Paths.Disk(spec.Disks[0].Id), spec.MemoryMiB * MiB, progress, measuring.Token)
                        : Task.CompletedTask;
                    try
                    {
                        quiesced = await RunJobAsync(vm, qmp, name, [.. spec.Disks.Select(d => d.Id)], room, ct);
                    }
                    catch when (!room.Lacks)
                    {
                        // Refused for want of room, QEMU wrote nothing; any other failure may have left clusters allocated.
                        await leaks.MarkAsync(vm);
                        throw;
                    }
                    finally
                    {
                        await measuring.CancelAsync();
                        await growth;
                    }
                }

                return await MeasureAsync(vm, spec, name, ct, quiesced);
            }

            if (File.Exists(vm.Paths.StateFile))
            {
                throw new InvalidOperationException("The VM is Saved: restore it first.");
            }

            if (await AlreadyDoneAsync(vm, spec, name, ct))
            {
                return await MeasureAsync(vm, spec, name, ct);
            }

            foreach (var disk in spec.Disks)
            {
                await files.DisksOf(spec).SnapshotAsync(vm.Paths.Disk(disk.Id), disk.SizeBytes, DiskAction, name, ct);
            }

            return await MeasureAsync(vm, spec, name, ct);
        }
        catch (QemuImgException e) when (room.Full(e) is { } full)
        {
            throw full;
        }
        finally
        {
            vm.Lock.Release();
        }
    }

    /// <summary>
    /// Whether an earlier attempt of this very command already did it (the portal checks names before
    /// it asks, so a snapshot there by this name is this command's): then a resend only reports.
    /// </summary>
    protected virtual Task<bool> AlreadyDoneAsync(VmRuntime vm, VmSpec spec, string name, CancellationToken ct) => Task.FromResult(false);

    /// <summary>How many of the VM's disks hold snapshot <paramref name="name"/>.</summary>
    protected async Task<int> DisksHoldingAsync(VmRuntime vm, VmSpec spec, string name, CancellationToken ct)
    {
        var holding = 0;
        foreach (var disk in spec.Disks)
        {
            holding += (await files.DisksOf(spec).InfoAsync(vm.Paths.Disk(disk.Id), ct)).Snapshots.Any(s => s.Name == name) ? 1 : 0;
        }

        return holding;
    }

    private static string NameOf(VmCommand command) =>
        command.Snapshot is { } name && NamePattern().IsMatch(name)
            ? name
            : throw new InvalidOperationException("A snapshot name is 1-32 characters: letters, digits, '.', '_' or '-'.");

    /// <summary>What the snapshot holds of RAM, and what the first disk's file takes on the host now.</summary>
    private async Task<Outcome> MeasureAsync(VmRuntime vm, VmSpec spec, string name, CancellationToken ct, bool quiesced = false)
    {
        var said = quiesced ? "The guest agent froze the file systems around it: consistent." : null;
        try
        {
            var info = await files.DisksOf(spec).InfoAsync(vm.Paths.Disk(spec.Disks[0].Id), ct);
            var state = info.Snapshots.FirstOrDefault(s => s.Name == name)?.VmStateBytes;
            return new Outcome(said, new OperationResult(StateBytes: state, DiskBytes: info.ActualSize, Quiesced: quiesced));
        }
        catch (QemuImgException e)
        {
            // The snapshot itself is done; only its figures are missing.
            log.LogWarning(e, "Measuring the disk of VM {Vm} failed", vm.Id);
            return new Outcome(said, new OperationResult(Quiesced: quiesced));
        }
    }

    private const long MiB = 1024 * 1024;

    /// <summary>Device state QEMU writes beside the guest's memory (the portal's bound, <c>VmRules.DeviceStateBytes</c>).</summary>
    internal const long DeviceStateMiB = 16;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]
    private static partial Regex NamePattern();
}

public sealed class TakeSnapshot(VmFiles files, DiskLeaks leaks, ILogger<TakeSnapshot> log, Portal.IPortalReporter portal, GuestAgents guests, TimeProvider clock)
    : SnapshotVm(files, leaks, log)
{
    public override VmVerb Verb => VmVerb.Snapshot;

    protected override IProgress<WorkDone> ProgressOf(VmCommand command) => new WorkReporter(portal, command, clock);

    protected override char DiskAction => 'c';

    protected override string Doing(string name) => $"taking snapshot '{name}'";

    protected override async Task<bool> AlreadyDoneAsync(VmRuntime vm, VmSpec spec, string name, CancellationToken ct) =>
        await DisksHoldingAsync(vm, spec, name, ct) == spec.Disks.Count;

    /// <summary>The job between a freeze and a thaw of the guest's file systems, where its guest agent answers.</summary>
    protected override async Task<bool> RunJobAsync(VmRuntime vm, QmpClient qmp, string name, IReadOnlyList<string> devices, DiskRoom room, CancellationToken ct)
    {
        var frozen = await guests.FreezeAsync(vm, ct);
        try
        {
            await SnapshotJobs.SaveAsync(qmp, name, devices, room, ct);
        }
        finally
        {
            if (frozen)
                await guests.ThawAsync(vm);
        }

        return frozen;
    }
}

public sealed class RevertSnapshot(VmFiles files, DiskLeaks leaks, ILogger<RevertSnapshot> log) : SnapshotVm(files, leaks, log)
{
    public override VmVerb Verb => VmVerb.RevertSnapshot;

    protected override char DiskAction => 'a';

    protected override string Doing(string name) => $"going back to snapshot '{name}'";

    protected override async Task<bool> RunJobAsync(VmRuntime vm, QmpClient qmp, string name, IReadOnlyList<string> devices, DiskRoom room, CancellationToken ct)
    {
        await SnapshotJobs.LoadAsync(qmp, name, devices, ct);
        return false;
    }
}

public sealed class DeleteSnapshot(VmFiles files, DiskLeaks leaks, ILogger<DeleteSnapshot> log) : SnapshotVm(files, leaks, log)
{
    public override VmVerb Verb => VmVerb.DeleteSnapshot;

    protected override char DiskAction => 'd';

    protected override string Doing(string name) => $"deleting snapshot '{name}'";

    protected override async Task<bool> AlreadyDoneAsync(VmRuntime vm, VmSpec spec, string name, CancellationToken ct) =>
        await DisksHoldingAsync(vm, spec, name, ct) == 0;

    protected override async Task<bool> RunJobAsync(VmRuntime vm, QmpClient qmp, string name, IReadOnlyList<string> devices, DiskRoom room, CancellationToken ct)
    {
        await SnapshotJobs.DeleteAsync(qmp, name, devices, ct);
        return false;
    }
}
