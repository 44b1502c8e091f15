using System.Collections.Concurrent;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Vms;

/// <summary>A running task's progress, as its agent reported it to one portal process; every process hears it (the change bus) and keeps it.</summary>
public sealed record WorkReported(Guid VmId, Guid OperationId, long Done, long Total, string Unit, DateTimeOffset At);

/// <summary>
/// How far a running task has got: <see cref="Done"/> of <see cref="Total"/> now, and an estimate of
/// the time left from its pace since its first report (none until it has moved).
/// </summary>
public sealed record TaskWork(long Done, long Total, string Unit, DateTimeOffset At, long FirstDone, DateTimeOffset FirstAt)
{
    public double Percent => Total > 0 ? Math.Min(100, Done * 100.0 / Total) : 0;

    public TimeSpan? Left =>
        At > FirstAt && Done > FirstDone ? TimeSpan.FromSeconds((Total - Done) / ((Done - FirstDone) / (At - FirstAt).TotalSeconds)) : null;

    /// <summary>"45 % · 120 MiB of 256 MiB · about 3 s left", "120 of 400 characters · about 11 s left".</summary>
    public string Text
    {
        get
        {
            var amount = Unit == WorkDone.Bytes ? $"{StatScale.Bytes(Done)} of {StatScale.Bytes(Total)}" : $"{Done} of {Total} {Unit}";
            var left = Left is { } l ? $" · about {(l.TotalSeconds < 90 ? $"{Math.Ceiling(l.TotalSeconds):0} s" : $"{Math.Ceiling(l.TotalMinutes):0} min")} left" : "";
            return $"{Percent:0} % · {amount}{left}";
        }
    }

    public TaskWork Then(WorkReported report) => this with { Done = report.Done, Total = report.Total, Unit = report.Unit, At = report.At };

    public static TaskWork First(WorkReported report) => new(report.Done, report.Total, report.Unit, report.At, report.Done, report.At);
}

/// <summary>
/// Every running task's latest progress (saves, typing), in memory: it is worth nothing once the task
/// has ended, which its task says. A task not heard of for <see cref="Forgotten"/> is dropped. Made
/// when a page or call first asks for it: reports every half second soon fill it.
/// </summary>
public sealed class WorkBoard
{
    public static readonly TimeSpan Forgotten = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<Guid, TaskWork> _work = new();

    public WorkBoard(ChangeNotifier<WorkReported> reports) =>
        reports.Subscribe(report =>
        {
            _work.AddOrUpdate(report.OperationId, _ => TaskWork.First(report), (_, work) => report.At >= work.At ? work.Then(report) : work);
            foreach (var (id, work) in _work)
            {
                if (report.At - work.At > Forgotten)
                    _work.TryRemove(id, out _);
            }

            return Task.CompletedTask;
        });

    public TaskWork? Of(Guid operationId) => _work.GetValueOrDefault(operationId);
}
