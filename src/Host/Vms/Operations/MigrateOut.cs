using Paddock.Engine.Contract;
using Paddock.Engine.Recipes;
using Paddock.Host.Migration;
using Paddock.Host.Portal;

namespace Paddock.Host.Vms.Operations;

/// <summary>
/// A live migration's source: mirrors the VM's disks and moves its memory through the channels to the
/// destination (<see cref="LiveMigration.MigrateAsync"/>), reporting progress as it goes. Ends with the
/// guest standing still here and whole on the destination; on any failure or a cancel the guest runs
/// here as before. Only the portal's FinishMigration runs it there, and only after this ended well.
/// </summary>
public sealed class MigrateOut(MigrationChannels channels, IPortalReporter portal, ILogger<MigrateOut> log) : IVmOperation
{
    /// <summary>How often progress goes to the portal while the VM moves.</summary>
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(500);

    public VmVerb Verb => VmVerb.MigrateOut;

    public async Task<Outcome> RunAsync(VmRuntime vm, VmCommand command, CancellationToken ct)
    {
        var link = command.Migration ?? throw new InvalidOperationException("A migration needs its link.");
        var qmp = vm.RunningMonitor();
        var spec = vm.CreatedSpec;
        vm.Migration?.Dispose();
        var state = vm.Migration = new MigrationState(link.MigrationId);
        using var move = CancellationTokenSource.CreateLinkedTokenSource(ct, state.Move.Token);
        try
        {
            await channels.ListenOutgoingAsync(vm, link, move.Token);
            var progress = new Progress(portal, command);
            var figures = await LiveMigration.MigrateAsync(qmp, spec.Disks, vm.Paths.MigrationDisksSocket, vm.Paths.MigrationMemorySocket, progress, move.Token,
                LiveMigrationOptions.Default with
                {
                    ProgressInterval = ProgressEvery,
                    MaxBandwidthBytesPerSecond = link.MaxBandwidthBytesPerSecond ?? LiveMigrationOptions.Unlimited,
                });
            state.MovedOut = true;
            return new Outcome($"Moved in {figures.TotalTime.TotalMilliseconds:0} ms, downtime {figures.Downtime.TotalMilliseconds:0} ms.", new OperationResult(Migration: figures));
        }
        catch (OperationCanceledException) when (state.Move.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            await state.EndChannelsAsync();
            throw new InvalidOperationException("Cancelled; the VM runs here as before.");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("Migration {Migration} of VM {Vm} failed; it runs here as before: {Message}", link.MigrationId, vm.Id, e.Message);
            await state.EndChannelsAsync();
            throw;
        }
    }

    /// <summary>Passes each progress report on to the portal as the operation's running state.</summary>
    private sealed class Progress(IPortalReporter portal, VmCommand command) : IProgress<MigrationProgress>
    {
        public void Report(MigrationProgress value) =>
            _ = portal.ReportOperationAsync(new OperationReport(command.OperationId, command.VmId, OperationState.Running, Result: new OperationResult(Progress: value)));
    }
}
