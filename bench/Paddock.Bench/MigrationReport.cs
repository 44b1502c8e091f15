namespace Paddock.Bench;

/// <summary>The migration benchmark's table: per scenario, bare beside the engine's recipe and beside a move through Paddock.</summary>
public static class MigrationReport
{
    public static void Print(List<(MigrationScenario Scenario, MigrationResults Results)> all, int runs, string load)
    {
        Console.WriteLine();
        Console.WriteLine($"{Environment.ProcessorCount} CPUs; load average (1/5/15 min) at start {load}, at end {LoadAverage()}; guest {MigrationGuest.MemoryMiB} MiB, 1 vCPU, TCG");
        foreach (var (scenario, results) in all)
        {
            PrintScenario(scenario, results, runs);
        }

        PrintLegend();
    }

    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]);

    private static void PrintScenario(MigrationScenario scenario, MigrationResults results, int runs)
    {
        var (bare, engine, paddock) = (results.Bare, results.Engine, results.Paddock);
        Table.Header($"{scenario.Name} guest (n={runs} each)");
        Rows(results, f => f.TotalMs, "bare: total (first command -> RESUME)", "engine: total",
            (e, b) => Table.Ratio("ratio engine / bare total (median)", e, b),
            "paddock: total (POST -> task Succeeded)", "ratio paddock / bare total (median)");
        Rows(results, f => f.QemuDowntimeMs, "bare: QEMU downtime", "engine: QEMU downtime",
            (e, b) => Table.Difference("engine - bare QEMU downtime (median)", e, b),
            "paddock: QEMU downtime (task message)", "ratio paddock / bare downtime (median)");
        Rows(results, f => f.PausedMs, "bare: guest paused (STOP -> RESUME)", "engine: guest paused",
            (e, b) => Table.Difference("engine - bare guest paused (median)", e, b),
            "paddock: guest paused (test monitors)", "ratio paddock / bare guest paused (median)");
        Rows(results, f => f.QemuTotalMs, "bare: QEMU total-time (migrate -> done)", "engine: QEMU total-time", null,
            "paddock: QEMU total-time (task message)", "ratio paddock / bare QEMU total (median)");
        Console.WriteLine($"  RAM sent per move (MiB): bare {Mib(bare)}, engine {Mib(engine)}, paddock {Mib(paddock)}; " +
            $"highest dirty rate QEMU saw (engine): {engine.Max(f => f.DirtyBytesPerSecond) / (1024.0 * 1024):0.0} MiB/s");
        Console.WriteLine($"  guest answered on the destination after the move: bare {Answered(results, "bare")}/{runs}, " +
            $"engine {Answered(results, "engine")}/{runs}, paddock {Answered(results, "paddock")}/{runs}");
        Console.WriteLine();
    }

    private static void PrintLegend() => Console.WriteLine($"""
        what each row times (bare and engine: per move a guest boots, is prepared, and moves QEMU -> fresh QEMU, in turn;
        paddock: one VM moved back and forth between two host agents):
          total          bench clock: first migration command (destination's NBD server) -> the destination's RESUME event
          QEMU downtime  query-migrate 'downtime' on the source; QEMU total-time: 'total-time' (migrate -> completed)
          guest paused   the source's STOP event -> the destination's RESUME event (QEMU's timestamps, same host)
          all            the disk ({MigrationBench.DiskDataMiB} MiB written into the linked clone's overlay) mirrored with sync=top into the destination's
                         NBD export; auto-converge on, max-bandwidth unlimited, downtime-limit 300 ms;
                         destination started with -incoming defer -S, sandbox on
          bare           plain QMP on a raw socket, event-driven: mirror (background copy mode) ready -> migrate -> MIGRATION completed
                         -> block-job-cancel -> BLOCK_JOB_COMPLETED -> destination nbd-server-stop + cont; both QEMUs' unix sockets joined directly
          engine         LiveMigration: PrepareDestination, Migrate (write-blocking mirrors ready -> migrate -> completed -> mirrors
                         still ready; polled every 10 ms, every 1 ms near and during the switchover), ResumeDestination (cont first);
                         both QEMUs' unix sockets joined directly
          paddock        a VM of the built-in template created through the API on one agent, moved by POST /api/vms/{"{id}"}/migrate to a
                         second agent on this machine and back (A -> B, B -> A, ...); the portal steps MigrateIn, MigrateOut,
                         FinishMigration, then deletes the source's copy; disks and memory go agent -> portal -> agent as WebSockets.
                         total: the bench's clock at the POST -> the task's finishedAt (the portal's clock, same host); QEMU downtime
                         and total-time: from the task's message; guest paused: STOP and RESUME on each QEMU's second monitor
                         (Agent:TestMonitor). The dirtying load starts after the idle moves, in the same VM
          dirtying       the guest copies a {MigrationBench.DirtyMiB} MiB tmpfs file of random data onto itself with dd, in a loop
          answered       after the move the guest is asked to print 'moved-N-ok' on its serial port within 30 s; a guest that does not
                         answer crashed on the destination (QEMU 7.2 under TCG seems to lose pages dirtied during a migration, bare too);
                         the paddock VM is then reset through the API and prepared again before its next move (not timed)
        """);

    /// <summary>One measure's rows: bare, engine, how the engine compares, and the move through Paddock with its ratio to bare.</summary>
    private static void Rows(MigrationResults results, Func<MoveFigures, double> of, string bare, string engine,
        Action<double[], double[]>? engineBeside, string paddock, string paddockRatio)
    {
        double[] Of(List<MoveFigures> figures) => [.. figures.Select(of)];
        var (b, e, p) = (Of(results.Bare), Of(results.Engine), Of(results.Paddock));
        Table.Row(bare, b);
        Table.Row(engine, e);
        engineBeside?.Invoke(e, b);
        Table.Row(paddock, p);
        Table.Ratio(paddockRatio, p, b);
    }

    private static int Answered(MigrationResults results, string way) => results.Answers.Count(a => a.Way == way && a.Answered);

    private static string Mib(List<MoveFigures> figures) =>
        string.Join(" ", figures.Select(f => (f.RamTransferredBytes / (1024.0 * 1024)).ToString("0")));
}
