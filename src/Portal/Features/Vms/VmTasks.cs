using Marten;
using Marten.Events;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Accounts;

namespace Paddock.Portal.Features.Vms;

public enum VmTaskState
{
    Running,
    Succeeded,
    Failed,
}

/// <summary>One operation on a VM as its history tells it: who asked, when, and how it ended.</summary>
public sealed record VmTask(Guid OperationId, VmVerb Verb, string By, DateTimeOffset RequestedAt, VmTaskState State, DateTimeOffset? FinishedAt, string? Message)
{
    public string What => VmRules.Describe(Verb);

    /// <summary>How far it has got while it runs, for a task that says (a save, a typing); null otherwise.</summary>
    public TaskProgress? Progress { get; init; }
}

/// <summary>A running task's progress: <c>Done</c> of <c>Total</c> in <c>Unit</c> (bytes, characters), and the seconds left at its pace so far, once it has one.</summary>
public sealed record TaskProgress(long Done, long Total, string Unit, double Percent, double? SecondsLeft)
{
    public static TaskProgress Of(TaskWork work) => new(work.Done, work.Total, work.Unit, Math.Round(work.Percent, 1), work.Left?.TotalSeconds is { } s ? Math.Round(s, 1) : null);
}

/// <summary>Some of a VM's tasks, newest first; <see cref="Older"/> is where the next page starts, null when none is older.</summary>
public sealed record VmTaskPage(IReadOnlyList<VmTask> Tasks, long? Older);

/// <summary>
/// Reads a VM's tasks from its event stream, a page at a time: the stream is the history, nothing
/// is kept beside it, and a VM that ran for years never has its whole stream read at once.
/// </summary>
public static class VmTasks
{
    public const int PageSize = 20;

    public const int MaxPageSize = 200;

    /// <summary>Where the API shows one task of a VM.</summary>
    public static string PathOf(Guid vmId, Guid operationId) => $"/api/vms/{vmId}/tasks/{operationId}";

    /// <summary>The VM's task <paramref name="operationId"/>, found by its request's place in the VM's stream; null when the VM has no such task.</summary>
    public static async Task<VmTask?> LoadOneAsync(IQuerySession session, Guid vmId, Guid operationId, CancellationToken ct = default)
    {
        var events = session.DocumentStore.Options.Events.DatabaseSchemaName;
        var found = await session.QueryAsync<long>(
            $"select seq_id from {events}.mt_events where stream_id = ? and type = 'vm_operation_requested' and data ->> 'OperationId' = ?",
            ct, vmId, operationId.ToString());
        return found is not [var sequence, ..] ? null : (await LoadAsync(session, vmId, before: sequence + 1, limit: 1, ct)).Tasks.SingleOrDefault(t => t.OperationId == operationId);
    }

    /// <summary>
    /// The <paramref name="limit"/> newest tasks requested before the event <paramref name="before"/>
    /// (a page's <see cref="VmTaskPage.Older"/>), or the newest ones when null.
    /// </summary>
    public static async Task<VmTaskPage> LoadAsync(IQuerySession session, Guid vmId, long? before = null, int limit = PageSize, CancellationToken ct = default)
    {
        var ceiling = before ?? long.MaxValue;
        var requests = await session.Events.QueryAllRawEvents()
            .Where(e => e.StreamId == vmId && e.Sequence < ceiling && e.EventTypesAre(typeof(VmOperationRequested)))
            .OrderByDescending(e => e.Sequence).Take(limit + 1).ToListAsync(ct);
        var page = requests.Take(limit).ToList();
        if (page.Count == 0)
        {
            return new VmTaskPage([], null);
        }

        // A task ends after it was asked for: its outcome, if any, comes later in the same stream.
        var floor = page[^1].Sequence;
        var completed = (await session.Events.QueryAllRawEvents()
                .Where(e => e.StreamId == vmId && e.Sequence > floor && e.EventTypesAre(typeof(VmOperationCompleted)))
                .OrderBy(e => e.Sequence).ToListAsync(ct))
            .Select(e => (VmOperationCompleted)e.Data).DistinctBy(c => c.OperationId).ToDictionary(c => c.OperationId);
        var asked = page.Select(e => (VmOperationRequested)e.Data).ToList();
        var names = (await session.LoadManyAsync<PortalUser>(ct, asked.Select(r => r.By).Distinct())).ToDictionary(u => u.Id, u => u.UserName);

        var tasks = asked.Select(r =>
        {
            var done = completed.GetValueOrDefault(r.OperationId);
            var state = done is null ? VmTaskState.Running : done.Succeeded ? VmTaskState.Succeeded : VmTaskState.Failed;
            return new VmTask(r.OperationId, r.Verb, names.GetValueOrDefault(r.By, "(removed user)"), r.At, state, done?.At, done?.Message);
        });
        return new VmTaskPage([.. tasks], requests.Count > limit ? floor : null);
    }
}
