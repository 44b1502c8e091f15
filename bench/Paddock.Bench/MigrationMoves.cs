using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Paddock.Engine.Qmp;
using Paddock.Engine.Recipes;

namespace Paddock.Bench;

/// <summary>
/// One move's figures, in milliseconds: <see cref="TotalMs"/> on the bench's clock from the first
/// migration command to the guest running on the destination (its RESUME event), QEMU's own
/// downtime and total time (query-migrate on the source), and how long the guest really stood still:
/// the source's STOP event to the destination's RESUME event, both stamped by QEMU on this host.
/// </summary>
public sealed record MoveFigures(double TotalMs, double QemuDowntimeMs, double QemuTotalMs, double PausedMs, long RamTransferredBytes, long DirtyBytesPerSecond);

/// <summary>Moving the guest from one QEMU to a fresh one: bare (plain QMP), or through the engine's recipe.</summary>
public static class MigrationMoves
{
    private static readonly TimeSpan Within = TimeSpan.FromMinutes(5);

    /// <summary>
    /// What a person would type, with the same settings the engine uses: export the destination's
    /// disk over NBD, mirror into it until ready, <c>migrate</c>, and once QEMU says completed cancel
    /// the mirror (it finishes the copy) and <c>cont</c> the destination. Waits on QMP events.
    /// </summary>
    public static async Task<MoveFigures> BareAsync(MigrationGuest source, MigrationGuest destination, CancellationToken ct)
    {
        await using var from = await RawQmp.ConnectAsync(source.Paths.QmpSocket, ct);
        await using var to = await RawQmp.ConnectAsync(destination.Paths.QmpSocket, ct);
        var disk = MigrationGuest.Disk.Id;
        var clock = Stopwatch.StartNew();
        await to.ExecuteAsync("nbd-server-start", new() { ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = destination.NbdSocket } } }, ct);
        await to.ExecuteAsync("block-export-add", new() { ["type"] = "nbd", ["id"] = "export0", ["node-name"] = disk, ["name"] = disk, ["writable"] = true }, ct);
        await to.ExecuteAsync("migrate-incoming", new() { ["uri"] = $"unix:{destination.MigrationSocket}" }, ct);

        await from.ExecuteAsync("migrate-set-capabilities", new()
        {
            ["capabilities"] = new JsonArray(Capability("events"), Capability("auto-converge")),
        }, ct);
        await from.ExecuteAsync("migrate-set-parameters", new() { ["max-bandwidth"] = LiveMigrationOptions.Unlimited, ["downtime-limit"] = 300 }, ct);
        await from.ExecuteAsync("blockdev-add", new()
        {
            ["driver"] = "nbd",
            ["node-name"] = "target0",
            ["server"] = new JsonObject { ["type"] = "unix", ["path"] = destination.NbdSocket },
            ["export"] = disk,
        }, ct);
        await from.ExecuteAsync("blockdev-mirror", new() { ["job-id"] = "mirror0", ["device"] = disk, ["target"] = "target0", ["sync"] = "top" }, ct);
        await from.WaitForEventAsync("BLOCK_JOB_READY", Within, ct);
        await from.ExecuteAsync("migrate", new() { ["uri"] = $"unix:{destination.MigrationSocket}" }, ct);
        var (ended, _) = await from.WaitForEventAsync("MIGRATION", Within, ct, e => e.GetProperty("status").GetString() is "completed" or "failed" or "cancelled");
        if (ended.GetProperty("status").GetString() != "completed")
        {
            throw new InvalidOperationException($"Bare migration ended {ended}.");
        }

        await from.ExecuteAsync("block-job-cancel", new() { ["device"] = "mirror0" }, ct);
        await from.WaitForEventAsync("BLOCK_JOB_COMPLETED", Within, ct);
        await to.ExecuteAsync("nbd-server-stop", null, ct);
        await to.ExecuteAsync("cont", null, ct);
        var (_, resumed) = await to.WaitForEventAsync("RESUME", Within, ct);
        var total = clock.Elapsed.TotalMilliseconds;

        var (_, stopped) = await from.WaitForEventAsync("STOP", Within, ct);
        var done = QmpMigration.From(await from.ExecuteAsync("query-migrate", null, ct));
        return new MoveFigures(total, done.DowntimeMs ?? 0, done.TotalTimeMs ?? 0, (resumed - stopped).TotalMilliseconds, done.Ram?.Transferred ?? 0, 0);
    }

    /// <summary>The same move through <see cref="LiveMigration"/>: both sides in this process, the source's QEMU straight on the destination's sockets.</summary>
    public static async Task<MoveFigures> EngineAsync(MigrationGuest source, MigrationGuest destination, CancellationToken ct)
    {
        await using var from = await source.ConnectAsync(ct);
        await using var to = await destination.ConnectAsync(ct);
        var dirtiest = new DirtiestRate();
        var clock = Stopwatch.StartNew();
        await LiveMigration.PrepareDestinationAsync(to, [MigrationGuest.Disk], destination.NbdSocket, destination.MigrationSocket, ct);
        // Every report, for the highest dirty rate: only what reaches the caller changes, not what QEMU does.
        var options = LiveMigrationOptions.Default with { ProgressInterval = TimeSpan.Zero };
        var figures = await LiveMigration.MigrateAsync(from, [MigrationGuest.Disk], destination.NbdSocket, destination.MigrationSocket, dirtiest, ct, options);
        await LiveMigration.ResumeDestinationAsync(to, ct);
        var resumed = await WaitForEventAsync(to, "RESUME", ct);
        var total = clock.Elapsed.TotalMilliseconds;

        var stopped = await WaitForEventAsync(from, "STOP", ct);
        return new MoveFigures(total, figures.Downtime.TotalMilliseconds, figures.TotalTime.TotalMilliseconds, (resumed - stopped).TotalMilliseconds,
            figures.RamTransferredBytes, dirtiest.Max);
    }

    private static JsonObject Capability(string name) => new() { ["capability"] = name, ["state"] = true };

    /// <summary>The timestamp of the first <paramref name="name"/> event (the bench is the only reader of these events).</summary>
    private static async Task<DateTimeOffset> WaitForEventAsync(QmpClient qmp, string name, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Within);
        await foreach (var e in qmp.Events.ReadAllAsync(deadline.Token))
        {
            if (e.Name == name)
            {
                return e.Timestamp;
            }
        }

        throw new InvalidOperationException($"QMP closed before {name}.");
    }

    /// <summary>The highest dirty rate QEMU reported while memory moved.</summary>
    private sealed class DirtiestRate : IProgress<MigrationProgress>
    {
        public long Max { get; private set; }

        public void Report(MigrationProgress value) => Max = Math.Max(Max, value.DirtyBytesPerSecond);
    }
}
