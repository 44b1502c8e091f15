using Paddock.Engine.Contract;
using Paddock.Host.Portal;

namespace Paddock.Host.Vms;

/// <summary>
/// Passes an operation's progress on to the portal as its running state: the first report at once,
/// then at most one every <see cref="Every"/> (the last one of a burst waits for none: the outcome follows it).
/// </summary>
public sealed class WorkReporter(IPortalReporter portal, VmCommand command, TimeProvider clock) : IProgress<WorkDone>
{
    public static readonly TimeSpan Every = TimeSpan.FromMilliseconds(500);

    private DateTimeOffset? _last;

    public void Report(WorkDone value)
    {
        var now = clock.GetUtcNow();
        if (_last is { } last && now - last < Every)
            return;
        _last = now;
        _ = portal.ReportOperationAsync(new OperationReport(command.OperationId, command.VmId, OperationState.Running, Result: new OperationResult(Work: value)));
    }
}
