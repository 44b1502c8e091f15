using Paddock.Engine.Contract;
using Paddock.Engine.Qmp;

namespace Paddock.Engine.Recipes;

/// <summary>
/// A save's progress while QEMU writes the guest's state: at once (none of its memory yet, of
/// <paramref name="memoryBytes"/>), then every <see cref="Every"/> from query-migrate's RAM counters
/// (what is sent of what there is; QEMU sends pages the guest dirtied again, so it may step back).
/// </summary>
public sealed class SaveProgress(long memoryBytes, IProgress<WorkDone> progress)
{
    public static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);

    internal async Task ReportAsync(QmpClient qmp, CancellationToken ct)
    {
        progress.Report(new WorkDone(0, memoryBytes, WorkDone.Bytes));
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if ((await qmp.QueryMigrateAsync(ct).ConfigureAwait(false)).Ram is { Total: > 0 } ram)
                    progress.Report(new WorkDone(Math.Clamp(ram.Total - ram.Remaining, 0, ram.Total), ram.Total, WorkDone.Bytes));
                await Task.Delay(Every, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The save ended (either way): nothing more to say.
        }
        catch (QmpException)
        {
            // QEMU away or refusing: the save's own end says what happened.
        }
    }
}
