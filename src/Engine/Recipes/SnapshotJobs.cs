using Paddock.Engine.Hosting;
using Paddock.Engine.Qmp;

namespace Paddock.Engine.Recipes;

/// <summary>
/// Internal snapshots of a running VM (disks and RAM) through QEMU's snapshot jobs (libvirt's
/// qemu_snapshot.c). The jobs answer {} at once and report failure only in query-jobs (QEMU 7.2),
/// so each start is followed by waiting for the job to conclude, then dismissing it.
/// </summary>
public static class SnapshotJobs
{
    public static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Takes snapshot <paramref name="tag"/> of <paramref name="devices"/>; the RAM goes into the first.
    /// With less free than <paramref name="room"/> needs it is refused before QEMU writes: a memory
    /// write that fails half-way leaves the clusters QEMU allocated in the disk, leaked, until
    /// <c>qemu-img check -r leaks</c> on the stopped VM. A write that meets a full disk all the same
    /// is a <see cref="DiskFullException"/>; QEMU then records no snapshot and runs the guest on
    /// (savevm.c's save_snapshot restarts a VM that ran).
    /// </summary>
    public static async Task SaveAsync(QmpClient qmp, string tag, IReadOnlyList<string> devices, DiskRoom room, CancellationToken ct)
    {
        if (room.Lacks)
        {
            throw new DiskFullException(room);
        }

        try
        {
            await RunAsync(qmp, "snapshot-save", id => qmp.SnapshotSaveAsync(id, tag, devices[0], devices, ct), ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (DiskRoom.SaysFull(e.Message))
        {
            throw new DiskFullException(room, e);
        }
    }

    /// <summary>Goes back to snapshot <paramref name="tag"/>, RAM from the first of <paramref name="devices"/>.</summary>
    public static Task LoadAsync(QmpClient qmp, string tag, IReadOnlyList<string> devices, CancellationToken ct) =>
        RunAsync(qmp, "snapshot-load", id => qmp.SnapshotLoadAsync(id, tag, devices[0], devices, ct), ct);

    public static Task DeleteAsync(QmpClient qmp, string tag, IReadOnlyList<string> devices, CancellationToken ct) =>
        RunAsync(qmp, "snapshot-delete", id => qmp.SnapshotDeleteAsync(id, tag, devices, ct), ct);

    /// <summary>
    /// Waits out and dismisses the snapshot jobs an earlier attempt left in this QEMU (an agent killed
    /// while one ran: QEMU carried on without it). Their errors are not this attempt's; what they did
    /// is read from the disk afterwards.
    /// </summary>
    public static async Task SettleEarlierAsync(QmpClient qmp, CancellationToken ct)
    {
        var earlier = (await qmp.QueryJobsAsync(ct).ConfigureAwait(false)).Where(j => j.Id?.StartsWith("snapshot-", StringComparison.Ordinal) == true);
        foreach (var job in earlier)
        {
            try
            {
                await WaitForJobAsync(qmp, job.Id!, ct).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // The earlier attempt failed: this one starts from what the disk holds.
            }
        }
    }

    private static async Task RunAsync(QmpClient qmp, string job, Func<string, Task> start, CancellationToken ct)
    {
        var id = $"{job}-{Guid.NewGuid():N}";
        await start(id).ConfigureAwait(false);
        await WaitForJobAsync(qmp, id, ct).ConfigureAwait(false);
    }

    /// <summary>Until job <paramref name="id"/> concludes; dismisses it, then throws its error if it failed.</summary>
    public static async Task WaitForJobAsync(QmpClient qmp, string id, CancellationToken ct, TimeSpan? limit = null)
    {
        var deadline = DateTimeOffset.UtcNow + (limit ?? JobTimeout);
        while (DateTimeOffset.UtcNow < deadline)
        {
            var job = (await qmp.QueryJobsAsync(ct).ConfigureAwait(false)).FirstOrDefault(j => j.Id == id)
                ?? throw new InvalidOperationException($"QEMU lost track of job {id}.");
            if (job.Concluded)
            {
                await qmp.JobDismissAsync(id, ct).ConfigureAwait(false);
                if (job.Error is not null)
                {
                    throw new InvalidOperationException(job.Error);
                }

                return;
            }

            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        throw new TimeoutException($"QEMU's {id} took over {(limit ?? JobTimeout).TotalMinutes:0} minutes.");
    }
}
