using System.Text.Json;
using Paddock.Engine.Contract;

namespace Paddock.Host.Vms;

/// <summary>One finished operation in the journal: its outcome, when it ended, and whether the portal confirmed it.</summary>
public sealed record JournalEntry(OperationReport Outcome, DateTimeOffset At, bool Acknowledged);

/// <summary>
/// The journal's file format and what a compaction keeps, apart from the file itself. The file is
/// append-only JSON lines: <c>{"outcome":{…},"at":…}</c> when an operation ends and <c>{"ack":id}</c>
/// once the portal took its outcome. A line that does not read (torn by a crash mid-write) is skipped.
/// </summary>
public static class JournalRules
{
    /// <summary>Confirmed outcomes younger than this are kept…</summary>
    public static readonly TimeSpan KeepFor = TimeSpan.FromHours(24);

    /// <summary>…at most this many of them, the newest.</summary>
    public const int KeepAtMost = 1000;

    /// <summary>
    /// What a compacted journal holds, in its order: every outcome the portal has not confirmed, and
    /// the newest <see cref="KeepAtMost"/> confirmed ones of the last <see cref="KeepFor"/>. The portal
    /// resends only commands it has no outcome for, so a confirmed one is kept only as a margin (a
    /// resend that crossed its confirmation); an unconfirmed one is kept until the portal takes it.
    /// </summary>
    public static IReadOnlyList<JournalEntry> Keep(IReadOnlyList<JournalEntry> entries, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var confirmed = entries.Where(e => e.Acknowledged && now - e.At <= KeepFor).TakeLast(KeepAtMost).Select(e => e.Outcome.OperationId).ToHashSet();
        return [.. entries.Where(e => !e.Acknowledged || confirmed.Contains(e.Outcome.OperationId))];
    }

    /// <summary>A compaction is due once the file holds <see cref="KeepAtMost"/> lines more than the last one kept.</summary>
    public static bool CompactionDue(int lines, int keptAtLastCompaction) => lines > keptAtLastCompaction + KeepAtMost;

    /// <summary>
    /// The entries the lines describe, in the order their operations ended: an operation's first
    /// outcome counts, an acknowledgement confirms it. Lines of an agent before the outbox (a bare
    /// outcome) count as confirmed, at <paramref name="legacyAt"/>.
    /// </summary>
    public static IReadOnlyList<JournalEntry> Replay(IEnumerable<string> lines, DateTimeOffset legacyAt)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var entries = new List<JournalEntry>();
        var index = new Dictionary<Guid, int>();
        foreach (var line in lines)
        {
            switch (Read(line))
            {
                case { Ack: { } ack } when index.TryGetValue(ack, out var at):
                    entries[at] = entries[at] with { Acknowledged = true };
                    break;
                case { Outcome: { } outcome, At: var when } when !index.ContainsKey(outcome.OperationId):
                    index[outcome.OperationId] = entries.Count;
                    entries.Add(new JournalEntry(outcome, when ?? legacyAt, Acknowledged: when is null));
                    break;
            }
        }

        return entries;
    }

    /// <summary>The line that records an entry (a compaction writes confirmed ones with their acknowledgement).</summary>
    public static string Line(JournalEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var line = JsonSerializer.Serialize(new Record(entry.Outcome, entry.At, null)) + "\n";
        return entry.Acknowledged ? line + AckLine(entry.Outcome.OperationId) : line;
    }

    public static string AckLine(Guid operationId) => JsonSerializer.Serialize(new Record(null, null, operationId)) + "\n";

    private static Record? Read(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            // An agent before the outbox wrote the bare outcome: no "outcome" or "ack" property.
            return json.RootElement.ValueKind != JsonValueKind.Object ? null
                : json.RootElement.TryGetProperty("OperationId", out _) ? new Record(json.RootElement.Deserialize<OperationReport>(), null, null)
                : json.RootElement.Deserialize<Record>();
        }
        catch (JsonException)
        {
            // Torn by a crash mid-write: that operation was not recorded as finished.
            return null;
        }
    }

    private sealed record Record(
        [property: System.Text.Json.Serialization.JsonPropertyName("outcome")] OperationReport? Outcome,
        [property: System.Text.Json.Serialization.JsonPropertyName("at")] DateTimeOffset? At,
        [property: System.Text.Json.Serialization.JsonPropertyName("ack")] Guid? Ack);
}
