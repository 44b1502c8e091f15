using Npgsql;

namespace Paddock.Testing;

/// <summary>
/// The PostgreSQL cluster that './paddock test' and './paddock bench' run for the instance
/// (<c>$DATA/pg</c>, started as the postgres user), which the fault suite stops and starts again.
/// </summary>
public static class LocalDatabase
{
    /// <summary>
    /// Stops the cluster with a fast shutdown (every connection is cut, as in a failover or an
    /// upgrade), keeps it away for <paramref name="down"/>, starts it with the run command's options
    /// and returns once it accepts connections again. <paramref name="run"/> runs a command (argv) to
    /// its end and fails when it does.
    /// </summary>
    public static async Task RestartAsync(string dataDir, string connection, TimeSpan down, Func<string[], Task> run, CancellationToken ct = default)
    {
        var pgData = Path.Combine(dataDir, "pg");
        if (!Directory.Exists(pgData))
        {
            throw new InvalidOperationException($"The fault suite restarts the instance's own PostgreSQL ({pgData}); a configured one it cannot.");
        }

        var pgCtl = Path.Combine(Environment.GetEnvironmentVariable("PADDOCK_TEST_PG_BIN") ?? "/usr/lib/postgresql/15/bin", "pg_ctl");
        await run(["runuser", "-u", "postgres", "--", pgCtl, "-D", pgData, "-m", "fast", "-w", "-t", "60", "stop"]);
        // The fault's length, scripted: how long the portal runs without its database.
        await Task.Delay(down, ct);
        var port = new NpgsqlConnectionStringBuilder(connection).Port;
        // Its log to a file: a server that inherited our pipe would keep it open for good.
        await run(["runuser", "-u", "postgres", "--", pgCtl, "-D", pgData, "-l", Path.Combine(dataDir, "logs", "postgresql.log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {Path.Combine(dataDir, "pg-run")} -c listen_addresses=127.0.0.1 -c max_connections=300", "start"]);
        // This process's own pooled connections died with the server: later queries must not meet them.
        NpgsqlConnection.ClearAllPools();
        await using var db = new NpgsqlConnection(connection);
        await db.OpenAsync(ct);
    }
}
