namespace Paddock.Portal.Features.Agents;

/// <summary>
/// One host's backlog of commands as the dispatcher sees them: how many wait to go out and since when the
/// oldest has waited, how many its agent has taken and not finished, and since when its agent has
/// left a send unanswered (only in the portal process that holds its connection).
/// </summary>
public sealed record CommandBacklog(int Waiting, DateTimeOffset? OldestWaiting, int UnderWay, DateTimeOffset? UnansweredSince = null)
{
    public static readonly CommandBacklog Empty = new(0, null, 0);

    /// <summary>The open commands (pending or sent) by host.</summary>
    public static IReadOnlyDictionary<Guid, CommandBacklog> Of(IEnumerable<AgentCommand> open) =>
        open.GroupBy(c => c.HostId).ToDictionary(g => g.Key, g =>
        {
            var waiting = g.Where(c => c.State == AgentCommandState.Pending).ToList();
            return new CommandBacklog(waiting.Count, waiting.Count == 0 ? null : waiting.Min(c => c.CreatedAt), g.Count(c => c.State == AgentCommandState.Sent));
        });

    /// <summary>What the Hosts page shows: "2 waiting (oldest 14 seconds), 1 under way, no answer for 9 seconds", or "none".</summary>
    public string Describe(DateTimeOffset now)
    {
        var parts = new List<string>();
        if (Waiting > 0)
        {
            parts.Add($"{Waiting} waiting (oldest {Shared.Durations.Describe(now - OldestWaiting!.Value)})");
        }

        if (UnderWay > 0)
        {
            parts.Add($"{UnderWay} under way");
        }

        if (UnansweredSince is { } since)
        {
            parts.Add($"no answer for {Shared.Durations.Describe(now - since)}");
        }

        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }
}
