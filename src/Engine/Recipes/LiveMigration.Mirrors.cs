using System.Diagnostics;
using Paddock.Engine.Qmp;
using Paddock.Engine.Vms;

namespace Paddock.Engine.Recipes;

/// <summary>The source's disk mirrors: one NBD client node and one mirror job per disk.</summary>
public static partial class LiveMigration
{
    /// <summary>The source's NBD client node for <paramref name="disk"/>, the mirror's target.</summary>
    internal static string TargetNode(DiskSpec disk) => $"nbd-{disk.Id}";

    /// <summary>The mirror job copying <paramref name="disk"/>.</summary>
    internal static string MirrorJob(DiskSpec disk) => $"mirror-{disk.Id}";

    /// <summary>
    /// Opens each disk's export (named for the disk) through <paramref name="nbdSocket"/> and starts
    /// its mirror, write-blocking: <c>top</c> for a linked clone, whose base the destination fetched
    /// by checksum, <c>full</c> for every other disk.
    /// </summary>
    private static async Task StartMirrorsAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, string nbdSocket, CancellationToken ct)
    {
        foreach (var disk in disks)
        {
            try
            {
                await qmp.BlockdevAddAsync(new Dictionary<string, object?>
                {
                    ["driver"] = "nbd",
                    ["node-name"] = TargetNode(disk),
                    ["server"] = new Dictionary<string, object> { ["type"] = "unix", ["path"] = nbdSocket },
                    ["export"] = disk.Id,
                }, ct).ConfigureAwait(false);
                await qmp.BlockdevMirrorAsync(MirrorJob(disk), disk.Id, TargetNode(disk), disk.BaseImage is null ? "full" : "top", "write-blocking", ct).ConfigureAwait(false);
            }
            catch (QmpErrorException e)
            {
                throw new DiskMirrorFailedException(disk.Id, e.Description, e);
            }
        }
    }

    /// <summary>Until every mirror is ready (in step with its source); returns the bytes they copied.</summary>
    private static async Task<long> WaitForMirrorsAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, ProgressThrottle reports, LiveMigrationOptions options, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < options.MirrorTimeout)
        {
            var jobs = await OurJobsAsync(qmp, disks, ct).ConfigureAwait(false);
            var offset = jobs.Sum(j => j.Offset);
            var length = jobs.Sum(j => j.Len);
            if (jobs.All(j => j.Ready))
            {
                return length;
            }

            reports.Report(new MigrationProgress(MigrationPhase.Disks, length == 0 ? 0 : 100.0 * offset / length, 0, 0, 0, 0, null));
            await Task.Delay(options.PollInterval, ct).ConfigureAwait(false);
        }

        throw new MigrationTimeoutException(MigrationPhase.Disks, options.MirrorTimeout);
    }

    /// <summary>
    /// Once the migration has completed: every mirror must still be ready. Write-blocking, a ready
    /// mirror had every guest write on the destination before the guest stopped; one that failed
    /// meanwhile left the destination's disk behind, and the migration fails with its error.
    /// </summary>
    private static async Task EnsureMirrorsInStepAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, CancellationToken ct)
    {
        var jobs = await OurJobsAsync(qmp, disks, ct).ConfigureAwait(false);
        for (var i = 0; i < disks.Count; i++)
        {
            if (!jobs[i].Ready)
            {
                throw new DiskMirrorFailedException(disks[i].Id, $"its mirror fell out of step with the guest (job status {jobs[i].Status}).");
            }
        }
    }

    /// <summary>
    /// query-block-jobs' entries for this migration's mirrors, one per disk in order. A mirror that
    /// concluded with an error, or that QEMU no longer knows, fails the migration; a failed job stays
    /// for <see cref="AbandonMirrorsAsync"/> to dismiss.
    /// </summary>
    private static async Task<IReadOnlyList<QmpBlockJob>> OurJobsAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks, CancellationToken ct)
    {
        var jobs = await qmp.QueryBlockJobsAsync(ct).ConfigureAwait(false);
        var ours = new List<QmpBlockJob>(disks.Count);
        foreach (var disk in disks)
        {
            var job = jobs.FirstOrDefault(j => j.Device == MirrorJob(disk))
                ?? throw new DiskMirrorFailedException(disk.Id, "QEMU lost track of its mirror job.");
            if (job.Error is { } error)
            {
                throw new DiskMirrorFailedException(disk.Id, error);
            }

            ours.Add(job);
        }

        return ours;
    }

    /// <summary>
    /// Ends every mirror of this migration that QEMU still has (forced: the copy is abandoned),
    /// dismisses it once concluded and closes its NBD target. Brief and quiet: for rolling back.
    /// </summary>
    private static async Task AbandonMirrorsAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks)
    {
        var names = disks.Select(MirrorJob).ToHashSet();
        var deadline = Stopwatch.StartNew();
        var cancelled = new HashSet<string>();
        while (qmp.IsConnected && deadline.Elapsed < QmpCommands.Brief)
        {
            IReadOnlyList<QmpBlockJob> jobs;
            try
            {
                jobs = [.. (await qmp.QueryBlockJobsAsync(timeout: QmpCommands.Brief).ConfigureAwait(false)).Where(j => names.Contains(j.Device))];
            }
            catch (QmpException)
            {
                break;
            }

            if (jobs.Count == 0)
            {
                break;
            }

            foreach (var job in jobs)
            {
                if (job.Concluded)
                {
                    await qmp.TryAsync(q => q.JobDismissAsync(job.Device, timeout: QmpCommands.Brief)).ConfigureAwait(false);
                }
                else if (cancelled.Add(job.Device))
                {
                    await qmp.TryAsync(q => q.BlockJobCancelAsync(job.Device, force: true, timeout: QmpCommands.Brief)).ConfigureAwait(false);
                }
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        await DeleteMirrorTargetsAsync(qmp, disks).ConfigureAwait(false);
    }

    /// <summary>Closes the NBD client nodes; those never opened, or already gone, are no error.</summary>
    private static async Task DeleteMirrorTargetsAsync(QmpClient qmp, IReadOnlyList<DiskSpec> disks)
    {
        foreach (var disk in disks)
        {
            await qmp.TryAsync(q => q.BlockdevDelAsync(TargetNode(disk), timeout: QmpCommands.Brief)).ConfigureAwait(false);
        }
    }
}
