using Paddock.Engine.Contract;
using Paddock.Engine.Interop;

namespace Paddock.Engine.Recipes;

/// <summary>
/// How far a write into a file has got, from how much the file grew: for a snapshot with memory,
/// whose QEMU cannot be asked meanwhile (its monitor waits for the snapshot to end). The file lies in
/// the VM's own directory, so it is opened once, without following a link, and measured through that
/// descriptor; a guest that lies about it only makes its own bar wrong, never past its total.
/// </summary>
public static class FileGrowthProgress
{
    public static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);

    /// <summary>Reports the growth of <paramref name="path"/> as done of <paramref name="total"/> bytes until <paramref name="ct"/> ends it.</summary>
    public static async Task ReportAsync(string path, long total, IProgress<WorkDone> progress, CancellationToken ct)
    {
        try
        {
            using var file = Libc.OpenReadNoFollow(path);
            var start = Libc.RegularFileOwnerAndSize(file.SafeFileHandle).Size;
            progress.Report(new WorkDone(0, total, WorkDone.Bytes));
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(Every, ct).ConfigureAwait(false);
                var grown = Libc.RegularFileOwnerAndSize(file.SafeFileHandle).Size - start;
                progress.Report(new WorkDone(Math.Clamp(grown, 0, total), total, WorkDone.Bytes));
            }
        }
        catch (OperationCanceledException)
        {
            // The write ended: its outcome says the rest.
        }
        catch (IOException)
        {
            // Not a file to measure (any more): no figures, the write goes on.
        }
    }
}
