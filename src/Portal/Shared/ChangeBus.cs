using System.Collections.Concurrent;
using System.Threading.Channels;
using Npgsql;

namespace Paddock.Portal.Shared;

/// <summary>
/// Carries what a <see cref="ChangeNotifier{TChange}"/> publishes to the other portal processes on
/// the same database, through PostgreSQL's LISTEN/NOTIFY: a page served by one process hears of a
/// change made through another. A notice is small (the change's ids; pages read again what they
/// show). The process that sends a notice has already told its own subscribers and ignores it when
/// it comes back. Notices sent while this process's listening connection is down are lost: its
/// pages catch up with their next change or reload (PostgreSQL keeps no notice for a listener that
/// is not there).
/// </summary>
public sealed class ChangeBus(IConfiguration configuration, ILogger<ChangeBus> log) : BackgroundService
{
    /// <summary>The one channel every portal process listens on.</summary>
    public const string Channel = "paddock_changes";

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>How long the listening connection may be quiet before it is checked with a query (a dead server wakes no wait).</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Action<string>> _receivers = new();

    // Bounded: a database away for long must not fill the memory; what is dropped was stale anyway.
    private readonly Channel<string> _outbox = System.Threading.Channels.Channel.CreateBounded<string>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    /// <summary>This process, as its notices name it.</summary>
    public string Origin { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Says where notices of <paramref name="kind"/> from other processes go (one notifier per kind).</summary>
    public void Register(string kind, Action<string> deliver) => _receivers[kind] = deliver;

    /// <summary>Queues a notice for the other processes; it never blocks nor fails the caller.</summary>
    public void Send(string kind, string change)
    {
        if (ChangeNotice.Format(Origin, kind, change) is { } payload)
        {
            _outbox.Writer.TryWrite(payload);
        }
        else
        {
            log.LogWarning("A {Kind} notice is too long for NOTIFY; other portal processes do not hear of it", kind);
        }
    }

    /// <summary>A notice as it arrived: delivered to its kind's notifier unless this process sent it.</summary>
    public void Receive(string payload)
    {
        if (ChangeNotice.Parse(payload) is not { } notice || notice.Origin == Origin)
        {
            return;
        }

        if (_receivers.TryGetValue(notice.Kind, out var deliver))
        {
            try
            {
                deliver(notice.Change);
            }
            catch (System.Text.Json.JsonException e)
            {
                log.LogWarning(e, "A {Kind} notice from another portal process could not be read", notice.Kind);
            }
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(SendLoopAsync(stoppingToken), ListenLoopAsync(stoppingToken));

    private string ConnectionString => configuration.GetConnectionString("Paddock") ?? "";

    private async Task SendLoopAsync(CancellationToken ct)
    {
        var batch = new List<string>();
        while (await _outbox.Reader.WaitToReadAsync(ct))
        {
            batch.Clear();
            while (batch.Count < 100 && _outbox.Reader.TryRead(out var payload))
            {
                batch.Add(payload);
            }

            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString);
                await connection.OpenAsync(ct);
                // One round trip for a burst; in order, and PostgreSQL folds identical notices of one transaction.
                await using var notify = new NpgsqlCommand("select pg_notify(@channel, payload) from unnest(@payloads) with ordinality as n(payload, i) order by i", connection);
                notify.Parameters.AddWithValue("channel", Channel);
                notify.Parameters.AddWithValue("payloads", batch.ToArray());
                await notify.ExecuteNonQueryAsync(ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Lost for the other processes (their pages catch up at their next change); never retried into a storm.
                log.LogWarning("Could not send {Count} change notices to the other portal processes ({Message})", batch.Count, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }

    private async Task ListenLoopAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString);
                await connection.OpenAsync(ct);
                connection.Notification += (_, e) => Receive(e.Payload);
                await using (var listen = new NpgsqlCommand($"listen {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                log.LogInformation("Listening for changes made through other portal processes");
                backoff = TimeSpan.FromSeconds(1);
                while (!ct.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(Quiet, ct))
                    {
                        await using var ping = new NpgsqlCommand("select 1", connection);
                        await ping.ExecuteNonQueryAsync(ct);
                    }
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                log.LogWarning("Not hearing of changes made through other portal processes ({Message}); listening again in {Backoff}", e.Message, backoff);
                await Task.Delay(backoff, ct);
                backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
            }
        }
    }
}

/// <summary>
/// A change notice as NOTIFY carries it: "origin kind json" (origin and kind hold no space).
/// PostgreSQL refuses payloads of 8000 bytes or more.
/// </summary>
public sealed record ChangeNotice(string Origin, string Kind, string Change)
{
    public const int MaxBytes = 7999;

    /// <summary>The payload, or null when it would be too long for NOTIFY.</summary>
    public static string? Format(string origin, string kind, string change)
    {
        var payload = $"{origin} {kind} {change}";
        return System.Text.Encoding.UTF8.GetByteCount(payload) <= MaxBytes ? payload : null;
    }

    /// <summary>The notice in a payload, or null when it is not one.</summary>
    public static ChangeNotice? Parse(string payload)
    {
        var parts = payload.Split(' ', 3);
        return parts is [{ Length: > 0 } origin, { Length: > 0 } kind, var change] ? new ChangeNotice(origin, kind, change) : null;
    }
}
