using System.Text.Json;
using Paddock.Engine.Contract;
using Paddock.Host.Vms;

namespace Paddock.Unit.Host.Vms;

public sealed class JournalRulesTests
{
    private static readonly DateTimeOffset Noon = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);

    private static JournalEntry Entry(int n, DateTimeOffset at, bool acknowledged) =>
        new(new OperationReport(new Guid(n, 0, 0, new byte[8]), Guid.Empty, OperationState.Succeeded, $"op {n}"), at, acknowledged);

    private static int[] Numbers(IEnumerable<JournalEntry> entries) => [.. entries.Select(e => int.Parse(e.Outcome.Message![3..], System.Globalization.CultureInfo.InvariantCulture))];

    [Fact]
    public void Compaction_keeps_every_unconfirmed_outcome_however_old_and_drops_confirmed_ones_older_than_a_day()
    {
        var entries = new[]
        {
            Entry(1, Noon.AddDays(-3), acknowledged: false),
            Entry(2, Noon.AddDays(-2), acknowledged: true),
            Entry(3, Noon.AddHours(-25), acknowledged: true),
            Entry(4, Noon.AddHours(-23), acknowledged: true),
            Entry(5, Noon.AddMinutes(-1), acknowledged: false),
        };

        Assert.Equal([1, 4, 5], Numbers(JournalRules.Keep(entries, Noon)));
    }

    [Fact]
    public void Compaction_keeps_at_most_the_newest_thousand_confirmed_outcomes_and_all_unconfirmed_ones_in_order()
    {
        var entries = Enumerable.Range(1, 1500).Select(n => Entry(n, Noon.AddSeconds(-1500 + n), acknowledged: n % 500 != 0)).ToList();

        var kept = Numbers(JournalRules.Keep(entries, Noon));

        // 500, 1000 and 1500 are unconfirmed; of the 1,497 confirmed ones the newest 1,000 stay (498 on).
        Assert.Equal(1003, kept.Length);
        Assert.Equal([498, 499, 500, 501, 502], kept[..5]);
        Assert.Contains(1000, kept);
        Assert.Contains(1500, kept);
        Assert.Equal(kept.Order(), kept);
    }

    [Fact]
    public void A_compaction_is_due_only_once_the_file_grew_by_a_thousand_lines()
    {
        Assert.False(JournalRules.CompactionDue(lines: 1200, keptAtLastCompaction: 200));
        Assert.True(JournalRules.CompactionDue(lines: 1201, keptAtLastCompaction: 200));
    }

    [Fact]
    public void Replay_counts_an_operations_first_outcome_applies_acknowledgements_and_skips_a_torn_last_line()
    {
        var first = Entry(1, Noon, acknowledged: false);
        var second = Entry(2, Noon.AddSeconds(1), acknowledged: false);
        var again = first with { Outcome = first.Outcome with { State = OperationState.Failed } };
        var lines = (JournalRules.Line(first) + JournalRules.Line(second) + JournalRules.Line(again) + JournalRules.AckLine(first.Outcome.OperationId)
            + JournalRules.AckLine(Guid.NewGuid()) + JournalRules.Line(Entry(3, Noon, false))[..20]).Split('\n');

        var replayed = JournalRules.Replay(lines, Noon.AddDays(-9));

        Assert.Equal([1, 2], Numbers(replayed));
        Assert.Equal(OperationState.Succeeded, replayed[0].Outcome.State);
        Assert.True(replayed[0].Acknowledged);
        Assert.False(replayed[1].Acknowledged);
        Assert.Equal(Noon.AddSeconds(1), replayed[1].At);
    }

    [Fact]
    public void A_compacted_journal_reads_back_as_it_was_written()
    {
        var entries = new[] { Entry(1, Noon, acknowledged: true), Entry(2, Noon.AddSeconds(1), acknowledged: false) };

        var replayed = JournalRules.Replay(string.Concat(entries.Select(JournalRules.Line)).Split('\n'), Noon.AddDays(-9));

        Assert.Equal(entries, replayed);
    }

    [Fact]
    public void A_journal_of_an_agent_before_the_outbox_reads_as_confirmed_outcomes()
    {
        var old = new OperationReport(Guid.NewGuid(), Guid.NewGuid(), OperationState.Failed, "an older agent's line");

        var replayed = JournalRules.Replay([JsonSerializer.Serialize(old), "", "[1,2]", "null"], Noon);

        var entry = Assert.Single(replayed);
        Assert.Equal(old, entry.Outcome);
        Assert.True(entry.Acknowledged);
        Assert.Equal(Noon, entry.At);
    }
}
