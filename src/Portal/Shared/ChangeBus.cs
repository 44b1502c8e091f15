using System.Collections.Concurrent;
using System.Threading.Channels;
using Npgsql;

namespace Paddock.Portal.Shared;

/// <summary>
/// Carries what a <see cref="ChangeNotifier{TChange}"/> publishes to the other portal processes on
/// the same database, through PostgreSQL's LISTEN/NOTIFY: a page served by one process hears of a
/// change made through another. A notice is small (the change's ids; pages read again what they
/// show). The process that sends a notice has already told its own subscribers and ignores it when
/// it comes back. PostgreSQL keeps no notice for a listener that is not there, so each notice is
/// also written to a table (<see cref="Table"/>, kept for <see cref="Kept"/>): a process whose
/// listening connection was down reads there what was sent since it last heard, once it listens
/// again. A notice may so arrive twice; it only makes a page read again. One that could not be sent
/// (the database away) is tried again, with backoff, until it goes.
/// </summary>
public sealed class ChangeBus(IConfiguration configuration, TimeProvider clock, ILogger<ChangeBus> log) : BackgroundService
{
    /// <summary>The one channel every portal process listens on.</summary>
    public const string Channel = "paddock_changes";

    /// <summary>Where notices are kept for a process that was not listening when they were sent.</summary>
    public const string Table = "paddock.change_notices";

    /// <summary>How long a notice is kept: a process that was not listening for longer reloads nothing it missed before that.</summary>
    public static readonly TimeSpan Kept = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How far before it last heard a process reads again: a notice's time is its transaction's
    /// start, a little before it is seen, and the time of a notice heard is this process's clock
    /// (the database's, as <see cref="DatabaseClock"/> follows it).
    /// </summary>
    private static readonly TimeSpan Overlap = TimeSpan.FromSeconds(5);

    /// <summary>The most notices one catch-up delivers, the newest (a process away for long has its pages read again as people use them).</summary>
    private const int CatchUpLimit = 10_000;

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>The table of <see cref="Table"/>, made with the store's other tables.</summary>
    public static Weasel.Postgresql.Tables.Table NoticeTable()
    {
        var table = new Weasel.Postgresql.Tables.Table(Table);
        table.AddColumn("seq", "bigserial").AsPrimaryKey();
        table.AddColumn("at", "timestamptz").NotNull().DefaultValueByExpression("now()");
        table.AddColumn("payload", "text").NotNull();
        table.Indexes.Add(new Weasel.Postgresql.Tables.IndexDefinition("change_notices_at") { Columns = ["at"] });
        return table;
    }

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
        var backoff = TimeSpan.FromSeconds(1);
        var purged = DateTimeOffset.MinValue;
        // A batch that could not go is tried again even when nothing new comes.
        while (batch.Count > 0 || await _outbox.Reader.WaitToReadAsync(ct))
        {
            while (batch.Count < 100 && _outbox.Reader.TryRead(out var payload))
            {
                batch.Add(payload);
            }

            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString);
                await connection.OpenAsync(ct);
                await SendAsync(connection, batch, ct);
                batch.Clear();
                backoff = TimeSpan.FromSeconds(1);
                if (clock.GetUtcNow() - purged > Kept / 10)
                {
                    await using var purge = new NpgsqlCommand($"delete from {Table} where at < now() - @kept", connection);
                    purge.Parameters.AddWithValue("kept", Kept);
                    await purge.ExecuteNonQueryAsync(ct);
                    purged = clock.GetUtcNow();
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Kept and tried again (the outbox is bounded: the oldest notices go first when it fills).
                log.LogWarning("Could not send {Count} change notices to the other portal processes ({Message}); trying again in {Backoff}", batch.Count, e.Message, backoff);
                await Task.Delay(backoff, ct);
                backoff = Longer(backoff);
            }
        }
    }

    /// <summary>
    /// One transaction for a burst: kept in the table, then notified, in order (PostgreSQL folds
    /// identical notices of one transaction). Committed without waiting for the disk: a notice lost
    /// in a crash of PostgreSQL costs a page one read again, never data.
    /// </summary>
    private static async Task SendAsync(NpgsqlConnection connection, List<string> batch, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var quick = new NpgsqlCommand("set local synchronous_commit = off", connection, transaction))
        {
            await quick.ExecuteNonQueryAsync(ct);
        }

        await using var notify = new NpgsqlCommand(
            $"with kept as (insert into {Table} (payload) select payload from unnest(@payloads) with ordinality as n(payload, i) order by i returning seq, payload) " +
            "select pg_notify(@channel, payload) from kept order by seq", connection);
        notify.Parameters.AddWithValue("channel", Channel);
        notify.Parameters.AddWithValue("payloads", batch.ToArray());
        notify.Transaction = transaction;
        await notify.ExecuteNonQueryAsync(ct);
        await transaction.CommitAsync(ct);
    }

    private async Task ListenLoopAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        DateTime? heard = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var settings = new NpgsqlConnectionStringBuilder(ConnectionString) { ApplicationName = $"{ListenerName} {Environment.ProcessId}" };
                await using var connection = new NpgsqlConnection(settings.ConnectionString);
                await connection.OpenAsync(ct);
                connection.Notification += (_, e) => Receive(e.Payload);
                await using (var listen = new NpgsqlCommand($"listen {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                var now = await NowAsync(connection, ct);
                if (heard is { } since)
                {
                    var missed = await CatchUpAsync(connection, since - Overlap, ct);
                    log.LogInformation("Listening again for changes made through other portal processes; read {Count} notices sent since {Since:O}", missed, since);
                }
                else
                {
                    log.LogInformation("Listening for changes made through other portal processes");
                }

                heard = now;
                backoff = TimeSpan.FromSeconds(1);
                var asked = System.Diagnostics.Stopwatch.StartNew();
                while (!ct.IsCancellationRequested)
                {
                    // A notice heard proves the connection up to now: a catch-up after a cut reads back only from here.
                    if (await connection.WaitAsync(Quiet, ct))
                    {
                        heard = clock.GetUtcNow().UtcDateTime;
                    }

                    if (asked.Elapsed >= Quiet)
                    {
                        // Also checks the connection: a dead server wakes no wait.
                        heard = await NowAsync(connection, ct);
                        asked.Restart();
                    }
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                log.LogWarning("Not hearing of changes made through other portal processes ({Message}); listening again in {Backoff}", e.Message, backoff);
                await Task.Delay(backoff, ct);
                backoff = Longer(backoff);
            }
        }
    }

    /// <summary>The next wait after a failure: twice the last, at most <see cref="MaxBackoff"/>.</summary>
    private static TimeSpan Longer(TimeSpan backoff) => backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;

    /// <summary>How a process's listening connection is named to PostgreSQL (with its process id after a space).</summary>
    public const string ListenerName = "paddock-changes";

    private static async Task<DateTime> NowAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var query = new NpgsqlCommand("select now()", connection);
        return (DateTime)(await query.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Delivers the notices kept since <paramref name="since"/> (some may have been heard already); returns how many.</summary>
    private async Task<int> CatchUpAsync(NpgsqlConnection connection, DateTime since, CancellationToken ct)
    {
        var missed = new List<string>();
        await using (var query = new NpgsqlCommand($"select payload from (select seq, payload from {Table} where at >= @since order by seq desc limit {CatchUpLimit}) newest order by seq", connection))
        {
            query.Parameters.AddWithValue("since", since);
            await using var rows = await query.ExecuteReaderAsync(ct);
            while (await rows.ReadAsync(ct))
            {
                missed.Add(rows.GetString(0));
            }
        }

        foreach (var payload in missed)
        {
            Receive(payload);
        }

        return missed.Count;
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
