using System.Diagnostics.Metrics;
using Npgsql;

namespace Paddock.Portal.Shared;

/// <summary>
/// Watches the pool of PostgreSQL connections that this process's sessions share (Npgsql's own
/// gauges). When nearly every one is taken, or requests wait for one, it says so (at most once a
/// minute) with what the taken ones do, read from pg_stat_activity over a connection of its own: a
/// pool that stays full names what holds it. Agents, pages and requests all wait on this one pool,
/// so a full one cuts the hosts off.
/// </summary>
public sealed class PoolWatch(IConfiguration configuration, TimeProvider clock, ILogger<PoolWatch> log) : BackgroundService
{
    /// <summary>The name this process's pooled connections give PostgreSQL (pg_stat_activity's application_name) unless the connection string names one.</summary>
    public static readonly string ApplicationName = $"paddock-portal {Environment.ProcessId}";

    private static readonly TimeSpan Every = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan Quiet = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var raw = configuration.GetConnectionString("Paddock") ?? "";
        var pool = new NpgsqlConnectionStringBuilder(Extensions.StoreConnection(raw));
        using var gauges = new PoolGauges(pool.ApplicationName!);
        var warned = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(Every, clock, stoppingToken);
            var (used, pending) = gauges.Read();
            if ((used < pool.MaxPoolSize * 9 / 10 && pending == 0) || clock.GetUtcNow() - warned < Quiet)
            {
                continue;
            }

            warned = clock.GetUtcNow();
            log.LogWarning("{Used} of the {Max} pooled database connections are taken and {Pending} requests wait for one; they do: {What}",
                used, pool.MaxPoolSize, pending, await WhatAsync(raw, pool.ApplicationName!, stoppingToken));
        }
    }

    /// <summary>What this process's connections do, one line, read over a connection of its own (or why that could not be read).</summary>
    private static async Task<string> WhatAsync(string raw, string name, CancellationToken ct)
    {
        try
        {
            await using var connection = new NpgsqlConnection(raw);
            await connection.OpenAsync(ct);
            var held = await HeldAsync(connection, name, ct);
            return string.Join("; ", held.Select(h => $"{h.Count} {h.State} for up to {h.Seconds} s: {h.Query}"));
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            return $"not read ({e.Message})";
        }
    }

    /// <summary>This process's connections grouped by what they do (those resting in the pool show as idle), the most first.</summary>
    private static async Task<List<(int Count, string State, int Seconds, string Query)>> HeldAsync(NpgsqlConnection connection, string name, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText =
            "select count(*)::int, coalesce(state, '') || coalesce(' on ' || wait_event, ''), " +
            "coalesce(max(extract(epoch from now() - coalesce(xact_start, state_change))), 0)::int, left(regexp_replace(query, '\\s+', ' ', 'g'), 120) " +
            "from pg_stat_activity where application_name = @name group by 2, 4 order by 1 desc limit 8";
        command.Parameters.AddWithValue("name", name);
        var held = new List<(int, string, int, string)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            held.Add((reader.GetInt32(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3)));
        }

        return held;
    }

    /// <summary>Npgsql's gauges of the pools whose name carries <c>applicationName</c>: connections in use, and requests waiting for one.</summary>
    private sealed class PoolGauges : IDisposable
    {
        // Npgsql 10's names (OpenTelemetry's database conventions).
        private const string Count = "db.client.connection.count";
        private const string Pending = "db.client.connection.npgsql.pending_requests";

        private readonly MeterListener _listener = new();
        private (long Used, long Pending) _observed;
        private (long Used, long Pending) _counted;

        public PoolGauges(string applicationName)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Npgsql" && (instrument.Name is Count or Pending))
                {
                    listener.EnableMeasurementEvents(instrument, applicationName);
                }
            };
            _listener.SetMeasurementEventCallback<int>((instrument, value, tags, state) => Add(instrument, value, tags, (string)state!));
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, state) => Add(instrument, value, tags, (string)state!));
            _listener.Start();
        }

        /// <summary>Observable gauges are read afresh; the others (up-down counters) sent their changes as they came.</summary>
        public (long Used, long Pending) Read()
        {
            lock (_listener)
            {
                _observed = (0, 0);
                _listener.RecordObservableInstruments();
                return (_observed.Used + _counted.Used, _observed.Pending + _counted.Pending);
            }
        }

        private void Add(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, string applicationName)
        {
            string? pool = null, state = null;
            foreach (var tag in tags)
            {
                pool = tag.Key == "db.client.connection.pool.name" ? tag.Value as string : pool;
                state = tag.Key == "db.client.connection.state" ? tag.Value as string : state;
            }

            if (pool is null || !pool.Contains(applicationName, StringComparison.Ordinal))
            {
                return;
            }

            var (used, pending) = instrument.Name == Pending ? (0L, value) : state == "used" ? (value, 0L) : (0L, 0L);
            lock (_listener)
            {
                if (instrument.IsObservable)
                {
                    _observed = (_observed.Used + used, _observed.Pending + pending);
                }
                else
                {
                    _counted = (_counted.Used + used, _counted.Pending + pending);
                }
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
