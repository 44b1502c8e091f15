using Marten;
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
}

/// <summary>Reads a VM's tasks from its event stream: the stream is the history, nothing is kept beside it.</summary>
public static class VmTasks
{
    public static async Task<IReadOnlyList<VmTask>> LoadAsync(IQuerySession session, Guid vmId, CancellationToken ct = default)
    {
        var events = await session.Events.FetchStreamAsync(vmId, token: ct);
        var requested = events.Select(e => e.Data).OfType<VmOperationRequested>().ToList();
        var completed = events.Select(e => e.Data).OfType<VmOperationCompleted>().ToDictionary(c => c.OperationId);
        var people = requested.Select(r => r.By).Distinct().ToList();
        var names = (await session.LoadManyAsync<PortalUser>(ct, people)).ToDictionary(u => u.Id, u => u.UserName);

        return [.. requested
            .Select(r =>
            {
                var done = completed.GetValueOrDefault(r.OperationId);
                var state = done is null ? VmTaskState.Running : done.Succeeded ? VmTaskState.Succeeded : VmTaskState.Failed;
                return new VmTask(r.OperationId, r.Verb, names.GetValueOrDefault(r.By, "(removed user)"), r.At, state, done?.At, done?.Message);
            })
            .OrderByDescending(t => t.RequestedAt)];
    }
}
