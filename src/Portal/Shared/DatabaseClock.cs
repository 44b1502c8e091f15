using System.Diagnostics;
using Npgsql;

namespace Paddock.Portal.Shared;

/// <summary>
/// The portal's clock is PostgreSQL's: every portal process reads the same time, so what one writes
/// (a console ticket's expiry, a host's last report, a lease's end) another compares without the
/// skew between their machines' clocks. It is this machine's clock plus an offset to the database's
/// <c>now()</c>, measured by <see cref="DatabaseClockSync"/>; timers and timestamps stay the
/// machine's (only how long, never what time).
/// </summary>
public sealed class DatabaseClock : TimeProvider
{
    private long _offsetTicks;

    /// <summary>How far the database's clock is ahead of this machine's (negative: behind).</summary>
    public TimeSpan Offset
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
        set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
    }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
}

/// <summary>
/// Measures <see cref="DatabaseClock.Offset"/> before the portal serves (so its first answers use
/// the database's time) and every minute after, allowing half the round trip; while the database
/// is away the last offset holds.
/// </summary>
public sealed class DatabaseClockSync(DatabaseClock clock, IConfiguration configuration, ILogger<DatabaseClockSync> log) : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromMinutes(1);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await MeasureAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await MeasureAsync(stoppingToken);
        }
    }

    private async Task MeasureAsync(CancellationToken ct)
    {
        try
        {
            await using var connection = new NpgsqlConnection(configuration.GetConnectionString("Paddock"));
            await connection.OpenAsync(ct);
            await using var query = new NpgsqlCommand("select now()", connection);
            var sent = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            var now = (DateTime)(await query.ExecuteScalarAsync(ct))!;
            var offset = new DateTimeOffset(DateTime.SpecifyKind(now, DateTimeKind.Utc)) - (sent + watch.Elapsed / 2);
            if ((offset - clock.Offset).Duration() > TimeSpan.FromSeconds(1))
            {
                log.LogInformation("The database's clock is {Offset} ahead of this machine's; the portal uses the database's", offset);
            }
            clock.Offset = offset;
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            log.LogWarning("Could not read the database's clock ({Message}); keeping an offset of {Offset}", e.Message, clock.Offset);
        }
    }
}
