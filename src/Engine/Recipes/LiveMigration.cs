using System.Diagnostics;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Recipes;

/// <summary>
/// Live migration between hosts without shared storage, in steps that run on two different hosts
/// (libvirt's qemu_migration.c with NBD is the model): the disks travel by <c>blockdev-mirror</c>
/// into NBD exports the destination's QEMU serves, the memory by <c>migrate</c>.
/// </summary>
/// <remarks>
/// <para>
/// QEMU never listens on a network: the destination's QEMU listens on two unix sockets (NBD and
/// the migration stream) and the source's QEMU connects to two unix sockets; in between, the
/// agents carry the bytes. The sandbox stays on (no <c>exec:</c> migration).
/// </para>
/// <para>
/// Order on the source: mirror every disk until all are ready, then <c>migrate</c>. The mirrors
/// run in <c>write-blocking</c> copy mode (libvirt's synchronous-writes option): once ready, a guest
/// write completes only when the destination has it too, so a disk converges whatever the guest
/// writes, and when QEMU stops the guest for the last round of RAM (draining its I/O) the
/// destination's disks are the source's; nothing is left to copy while the guest stands still. The
/// destination, started with <c>-incoming defer -S</c>, never runs by itself:
/// <see cref="ResumeDestinationAsync"/> resumes it once the source step has succeeded (migration
/// completed, every mirror still in step), so the VM runs in one place only. Any failure or cancel
/// before that leaves the source running (<see cref="MigrateAsync"/> rolls back) and the destination
/// is to be ended with <see cref="AbortDestinationAsync"/>.
/// </para>
/// </remarks>
public static partial class LiveMigration
{
    private static readonly IReadOnlyDictionary<string, bool> Capabilities = new Dictionary<string, bool>
    {
        // Throttles the vCPUs of a guest that dirties memory faster than the stream carries it.
        ["auto-converge"] = true,
    };

    /// <summary>
    /// The source's side, whole: mirrors <paramref name="disks"/> (a linked clone's top layer only:
    /// the destination has the base) into the NBD exports reached through <paramref name="nbdSocket"/>,
    /// then moves RAM and the device state through <paramref name="migrationSocket"/>. Returns once
    /// the destination holds the whole VM; the source is then stopped for good, its mirrors idle until
    /// its QEMU is quit once the destination runs (or <see cref="ResumeSourceAsync"/>). On any failure or
    /// cancel the source keeps running and the exception says why (<see cref="LiveMigrationException"/>,
    /// or <see cref="OperationCanceledException"/>).
    /// </summary>
    public static async Task<MigrationFigures> MigrateAsync(
        QmpClient qmp,
        IReadOnlyList<DiskSpec> disks,
        string nbdSocket,
        string migrationSocket,
        IProgress<MigrationProgress>? progress,
        CancellationToken ct,
        LiveMigrationOptions? options = null)
    {
        options ??= LiveMigrationOptions.Default;
        var reports = new ProgressThrottle(progress, options.ProgressInterval);
        var wasRunning = (await qmp.QueryStatusAsync(ct).ConfigureAwait(false)).Status == "running";
        try
        {
            reports.Report(new MigrationProgress(MigrationPhase.Setup, 0, 0, 0, 0, 0, null));
            await qmp.MigrateSetCapabilitiesAsync(Capabilities, ct).ConfigureAwait(false);
            await qmp.MigrateSetParametersAsync(new Dictionary<string, object>
            {
                ["max-bandwidth"] = options.MaxBandwidthBytesPerSecond,
                ["downtime-limit"] = (long)options.DowntimeLimit.TotalMilliseconds,
            }, ct).ConfigureAwait(false);

            var mirroring = Stopwatch.StartNew();
            await StartMirrorsAsync(qmp, disks, nbdSocket, ct).ConfigureAwait(false);
            var diskBytes = await WaitForMirrorsAsync(qmp, disks, reports, options, ct).ConfigureAwait(false);
            var diskMirrorTime = mirroring.Elapsed;

            try
            {
                await qmp.MigrateAsync($"unix:{migrationSocket}", ct).ConfigureAwait(false);
            }
            catch (QmpErrorException e)
            {
                throw new MemoryMigrationFailedException("refused", e.Description, e);
            }

            var done = await WaitForMigrationAsync(qmp, MigrationPhase.Memory, options.MemoryTimeout, reports, options, ct).ConfigureAwait(false);
            await EnsureMirrorsInStepAsync(qmp, disks, ct).ConfigureAwait(false);

            var ram = done.Ram ?? new QmpMigrationRam(0, 0, 0, 0, 0);
            reports.Report(new MigrationProgress(MigrationPhase.Completed, 100, ram.Transferred, 0, ram.Total, 0, null));
            return new MigrationFigures(
                diskMirrorTime,
                diskBytes,
                Milliseconds(done.TotalTimeMs),
                Milliseconds(done.SetupTimeMs),
                Milliseconds(done.DowntimeMs),
                ram.Transferred,
                ram.Total);
        }
        catch
        {
            await RollBackSourceAsync(qmp, disks, wasRunning).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs the source's guest again after <see cref="MigrateAsync"/> succeeded but the destination
    /// did not take over (its agent died, it did not resume): the mirrors abandoned, then <c>cont</c>.
    /// Only once the destination's QEMU has ended: the VM must never run in two places.
    /// </summary>
    public static async Task ResumeSourceAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, CancellationToken ct)
    {
        await AbandonMirrorsAsync(qmp, disks).ConfigureAwait(false);
        await qmp.ContAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls query-migrate until it says completed, reporting progress as <paramref name="phase"/>
    /// (<see cref="MigrationPhase.Switchover"/> once QEMU has stopped the guest and sends its device
    /// state); a failed or cancelled migration throws with QEMU's reason.
    /// </summary>
    private static async Task<QmpMigration> WaitForMigrationAsync(
        QmpClient qmp, MigrationPhase phase, TimeSpan limit, ProgressThrottle reports, LiveMigrationOptions options, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < limit)
        {
            var migration = await qmp.QueryMigrateAsync(ct).ConfigureAwait(false);
            if (migration.Completed)
            {
                return migration;
            }

            if (migration.Status == "device")
            {
                phase = MigrationPhase.Switchover;
            }

            if (migration.Failed)
            {
                throw new MemoryMigrationFailedException(migration.Status!, migration.ErrorDesc ?? "no reason given");
            }

            var expected = migration.ExpectedDowntimeMs is { } ms ? TimeSpan.FromMilliseconds(ms) : (TimeSpan?)null;
            if (migration.Ram is { } ram)
            {
                reports.Report(new MigrationProgress(phase, 100, ram.Transferred, ram.Remaining, ram.Total, ram.DirtyBytesPerSecond, expected));
            }

            var switchingSoon = phase != MigrationPhase.Memory || expected is null || expected <= 2 * options.DowntimeLimit;
            await Task.Delay(switchingSoon ? options.SwitchoverPollInterval : options.PollInterval, ct).ConfigureAwait(false);
        }

        throw new MigrationTimeoutException(phase, limit);
    }

    /// <summary>
    /// Leaves the source as it was: the migration cancelled (QEMU restarts a guest it stopped), the
    /// mirrors abandoned and their targets closed, and the guest running if it ran before. Every step
    /// is brief and may find nothing to undo; QEMU may be gone.
    /// </summary>
    private static async Task RollBackSourceAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, bool wasRunning)
    {
        await qmp.TryAsync(q => q.MigrateCancelAsync(timeout: QmpCommands.Brief)).ConfigureAwait(false);
        await AbandonMirrorsAsync(qmp, disks).ConfigureAwait(false);
        var settled = Stopwatch.StartNew();
        while (qmp.IsConnected && settled.Elapsed < QmpCommands.Brief)
        {
            QmpMigration migration;
            try
            {
                migration = await qmp.QueryMigrateAsync(timeout: QmpCommands.Brief).ConfigureAwait(false);
            }
            catch (QmpException)
            {
                return;
            }

            if (migration.Status is not ("setup" or "active" or "cancelling" or "device"))
            {
                break;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        if (wasRunning)
        {
            // QEMU restarts the guest itself after a cancelled or failed migration, not after a completed one.
            var status = await StatusOrNullAsync(qmp).ConfigureAwait(false);
            if (status is not (null or "running"))
            {
                await qmp.TryAsync(q => q.ContAsync(timeout: QmpCommands.Brief)).ConfigureAwait(false);
            }
        }
    }

    private static async Task<string?> StatusOrNullAsync(QmpClient qmp)
    {
        try
        {
            return (await qmp.QueryStatusAsync(timeout: QmpCommands.Brief).ConfigureAwait(false)).Status;
        }
        catch (QmpException)
        {
            return null;
        }
    }

    private static TimeSpan Milliseconds(long? value) => TimeSpan.FromMilliseconds(value ?? 0);
}
