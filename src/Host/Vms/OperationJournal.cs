using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Vms;

namespace Paddock.Host.Vms;

/// <summary>
/// The outcome of every operation this host finished, kept on disk: a command the portal sends
/// again after a reconnect or an agent restart is answered with its first outcome, never run twice.
/// It is also the agent's outbox: an outcome stays unconfirmed until the portal took it
/// (<see cref="Acknowledge"/>), and the portal connection sends the unconfirmed ones until it does.
/// </summary>
/// <remarks>
/// Every append is on disk before it counts (fsync): an outcome reported to the portal is never
/// one the journal lost. It is compacted at start and whenever it grew by <see cref="JournalRules.KeepAtMost"/>
/// lines (<see cref="JournalRules.Keep"/>), into a new file that is fsynced and renamed over it:
/// a crash leaves the old journal or the new one. A journal that cannot be read at all is moved
/// aside with an error in the log; the agent carries on with an empty one (the portal resends what
/// it still waits for, and those operations run again).
/// </remarks>
public sealed class OperationJournal
{
    private readonly string _file;
    private readonly TimeProvider _clock;
    private readonly ILogger<OperationJournal> _log;
    private readonly ConcurrentDictionary<Guid, OperationReport> _finished = new();
    private readonly ConcurrentDictionary<Guid, byte> _running = new();
    private readonly Lock _write = new();
    private List<JournalEntry> _entries;
    private int _lines;
    private int _keptAtCompaction;

    public OperationJournal(IOptions<AgentOptions> options, TimeProvider clock, ILogger<OperationJournal> log)
    {
        (_clock, _log) = (clock, log);
        Directory.CreateDirectory(options.Value.StateDir);
        _file = Path.Combine(options.Value.StateDir, "operations.jsonl");
        _entries = [.. Load()];
        foreach (var entry in _entries)
        {
            _finished[entry.Outcome.OperationId] = entry.Outcome;
        }

        lock (_write)
        {
            Compact();
        }
    }

    /// <summary>The first outcome of a finished operation.</summary>
    public OperationReport? Outcome(Guid operationId) => _finished.GetValueOrDefault(operationId);

    /// <summary>False when the operation is already running here (a resend while it works).</summary>
    public bool TryBegin(Guid operationId) => _running.TryAdd(operationId, 0);

    /// <summary>Records the operation's outcome, on disk before this returns, as not yet confirmed by the portal.</summary>
    public void Finish(OperationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        try
        {
            lock (_write)
            {
                if (!_finished.ContainsKey(report.OperationId))
                {
                    var entry = new JournalEntry(report, _clock.GetUtcNow(), Acknowledged: false);
                    Append(JournalRules.Line(entry));
                    _entries.Add(entry);
                    _finished[report.OperationId] = report;
                }
            }
        }
        finally
        {
            // Not running any more, journaled or not: a resend of an unjournaled one runs it again.
            _running.TryRemove(report.OperationId, out _);
        }
    }

    /// <summary>The outcomes the portal has not confirmed yet, oldest first.</summary>
    public IReadOnlyList<OperationReport> Unacknowledged()
    {
        lock (_write)
        {
            return [.. _entries.Where(e => !e.Acknowledged).Select(e => e.Outcome)];
        }
    }

    public bool IsUnacknowledged(Guid operationId)
    {
        lock (_write)
        {
            return _entries.Exists(e => !e.Acknowledged && e.Outcome.OperationId == operationId);
        }
    }

    /// <summary>The portal took these outcomes (its hub call returned): they leave the outbox.</summary>
    public void Acknowledge(IEnumerable<Guid> operationIds)
    {
        lock (_write)
        {
            var lines = new StringBuilder();
            foreach (var id in operationIds)
            {
                var at = _entries.FindIndex(e => !e.Acknowledged && e.Outcome.OperationId == id);
                if (at >= 0)
                {
                    _entries[at] = _entries[at] with { Acknowledged = true };
                    lines.Append(JournalRules.AckLine(id));
                }
            }

            if (lines.Length > 0)
            {
                Append(lines.ToString());
            }

            if (JournalRules.CompactionDue(_lines, _keptAtCompaction))
            {
                Compact();
            }
        }
    }

    private IReadOnlyList<JournalEntry> Load()
    {
        if (!File.Exists(_file))
        {
            return [];
        }

        try
        {
            var lines = File.ReadAllLines(_file);
            var entries = JournalRules.Replay(lines, File.GetLastWriteTimeUtc(_file));
            _lines = lines.Length;
            return entries;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var aside = $"{_file}.corrupt-{_clock.GetUtcNow():yyyyMMddTHHmmssZ}";
            _log.LogError("The operation journal {File} cannot be read ({Message}); moved aside to {Aside}, starting an empty one", _file, e.Message, aside);
            File.Move(_file, aside, overwrite: true);
            return [];
        }
    }

    /// <summary>Appends and waits until the bytes are on disk.</summary>
    private void Append(string text)
    {
        using (var file = new FileStream(_file, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            file.Write(Encoding.UTF8.GetBytes(text));
            file.Flush(flushToDisk: true);
        }

        _lines += text.Count(c => c == '\n');
    }

    /// <summary>Writes what <see cref="JournalRules.Keep"/> keeps to a new file, fsynced, renamed over the journal. Under the write lock.</summary>
    private void Compact()
    {
        var kept = JournalRules.Keep(_entries, _clock.GetUtcNow());
        var text = string.Concat(kept.Select(JournalRules.Line));
        try
        {
            RunDirectory.WriteAtomicallyAsync(_file, text).GetAwaiter().GetResult();
        }
        catch (IOException e)
        {
            // Not compacted is no harm: the appends go on into the journal as it is.
            _log.LogWarning("Could not compact the operation journal: {Message}", e.Message);
            _keptAtCompaction = _lines;
            return;
        }

        foreach (var gone in _entries.Except(kept))
        {
            _finished.TryRemove(gone.Outcome.OperationId, out _);
        }

        _entries = [.. kept];
        _lines = text.Count(c => c == '\n');
        _keptAtCompaction = _lines;
    }
}
