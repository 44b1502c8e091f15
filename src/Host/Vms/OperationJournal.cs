using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;

namespace Paddock.Host.Vms;

/// <summary>
/// The outcome of every operation this host finished, kept on disk: a command the portal sends
/// again after a reconnect or an agent restart is answered with its first outcome, never run twice.
/// </summary>
public sealed class OperationJournal
{
    private readonly string _file;
    private readonly ConcurrentDictionary<Guid, OperationReport> _finished = new();
    private readonly ConcurrentDictionary<Guid, byte> _running = new();
    private readonly Lock _write = new();

    public OperationJournal(IOptions<AgentOptions> options)
    {
        Directory.CreateDirectory(options.Value.StateDir);
        _file = Path.Combine(options.Value.StateDir, "operations.jsonl");
        if (File.Exists(_file))
        {
            foreach (var line in File.ReadLines(_file))
            {
                try
                {
                    if (JsonSerializer.Deserialize<OperationReport>(line) is { } report)
                    {
                        _finished[report.OperationId] = report;
                    }
                }
                catch (JsonException)
                {
                    // A line torn by a crash mid-write: that operation was not finished.
                }
            }
        }
    }

    /// <summary>The first outcome of a finished operation.</summary>
    public OperationReport? Outcome(Guid operationId) => _finished.GetValueOrDefault(operationId);

    /// <summary>False when the operation is already running here (a resend while it works).</summary>
    public bool TryBegin(Guid operationId) => _running.TryAdd(operationId, 0);

    public void Finish(OperationReport report)
    {
        lock (_write)
        {
            File.AppendAllText(_file, JsonSerializer.Serialize(report) + "\n");
        }

        _finished[report.OperationId] = report;
        _running.TryRemove(report.OperationId, out _);
    }
}
