namespace Paddock.Bench;

/// <summary>One way of loading the guest while it moves: a shell line typed before the moves, or none.</summary>
public sealed record MigrationScenario(string Name, string? Setup);

/// <summary>One scenario's moves, per way of moving, and whether the guest answered after each.</summary>
public sealed record MigrationResults(List<MoveFigures> Bare, List<MoveFigures> Engine, List<MoveFigures> Paddock, List<(string Way, bool Answered)> Answers);

/// <summary>
/// <c>./paddock bench migrate [RUNS]</c>: live migration of a 256 MiB guest between two QEMUs on
/// this machine, no shared storage (its disk goes by NBD mirror), idle and while the guest dirties
/// memory, three ways: bare QMP and the engine's <see cref="Engine.Recipes.LiveMigration"/> recipe,
/// both with the source's QEMU straight on the destination's unix sockets, each move of a freshly
/// booted guest to a fresh QEMU, bare and engine in turn, RUNS times each; and through Paddock
/// (<see cref="PaddockMigrations"/>), one VM moved back and forth between two host agents by the
/// portal's API. After every move the guest is asked to answer on its serial port. Figures only, no asserts.
/// </summary>
public static class MigrationBench
{
    /// <summary>Written into the guest's disk before the first move (MiB), so that the mirror has something to copy.</summary>
    public const int DiskDataMiB = 32;

    /// <summary>Rewritten over and over in the guest's tmpfs by the dirtying scenario (MiB).</summary>
    public const int DirtyMiB = 64;

    public static async Task<int> RunAsync(string[] args)
    {
        var runs = args is [var n, ..] && int.TryParse(n, out var parsed) && parsed > 0 ? parsed : 3;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(15 + 6 * runs));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        var ct = cancel.Token;
        var images = Path.Combine(Environment.GetEnvironmentVariable("PADDOCK_TEST_DATA") ?? throw new InvalidOperationException("Run through ./paddock bench migrate."), "images");
        var load = MigrationReport.LoadAverage();

        MigrationScenario[] scenarios =
        [
            new("idle", null),
            // A non-zero file in tmpfs copied onto itself again and again: the same pages written over
            // and over (zero pages would travel as flags). dd does ~100 MB/s under TCG here.
            new("dirtying",
                $"for i in $(seq {DirtyMiB}); do cat /run/src; done > /run/dirty; " +
                "(while :; do dd if=/run/dirty of=/run/dirty bs=1M conv=notrunc 2>/dev/null; done) &"),
        ];
        var results = new List<(MigrationScenario, MigrationResults)>();
        foreach (var scenario in scenarios)
        {
            Console.WriteLine($"{scenario.Name}: {runs} bare and {runs} engine moves in turn, each of a freshly booted guest");
            results.Add((scenario, await RunScenarioAsync(images, scenario, runs, ct)));
        }

        // Last, alone: the portal, two agents and the guest running on one of them would load the moves above.
        await PaddockMigrations.RunAsync(results, runs, ct);
        MigrationReport.Print(results, runs, load);
        return 0;
    }

    private static async Task<MigrationResults> RunScenarioAsync(string images, MigrationScenario scenario, int runs, CancellationToken ct)
    {
        var results = new MigrationResults([], [], [], []);
        for (var move = 0; move < 2 * runs; move++)
        {
            var bare = move % 2 == 0;
            var (figures, answered) = await MoveFreshGuestAsync(images, scenario, move, bare, ct);
            (bare ? results.Bare : results.Engine).Add(figures);
            results.Answers.Add((bare ? "bare" : "engine", answered));
            Console.WriteLine($"  move {move + 1} ({(bare ? "bare" : "engine")}): {Outcome(move, answered, figures)}");
        }

        return results;
    }

    /// <summary>One move's line of progress: did the guest answer, how long it took, how long it stood still.</summary>
    public static string Outcome(int move, bool answered, MoveFigures figures) =>
        (answered ? $"guest answered 'moved-{move}-ok' on the destination's serial port" : "guest did NOT answer on the destination's serial port") +
        $"; total {figures.TotalMs:0} ms, paused {figures.PausedMs:0} ms";

    /// <summary>Writes the disk data into the guest's own layer (leaving one MiB of random data in /run/src), then starts the scenario's load.</summary>
    public static async Task PrepareAsync(GuestShell shell, MigrationScenario? scenario, CancellationToken ct)
    {
        await shell.RunAsync(
            $"dd if=/dev/urandom of=/run/src bs=1M count=1 2>/dev/null; for i in $(seq {DiskDataMiB}); do cat /run/src; done | dd of=/dev/vda bs=1M seek=24 conv=fsync 2>/dev/null; echo written-o''k",
            "written-ok", TimeSpan.FromMinutes(2), ct);
        await LoadAsync(shell, scenario, ct);
    }

    /// <summary>Starts the scenario's load in the guest (in the background), if it has one.</summary>
    public static async Task LoadAsync(GuestShell shell, MigrationScenario? scenario, CancellationToken ct)
    {
        if (scenario?.Setup is { } setup)
        {
            await shell.RunAsync($"{setup} echo loaded-o''k", "loaded-ok", TimeSpan.FromMinutes(1), ct);
        }
    }

    /// <summary>Whether the guest prints <c>moved-{move}-ok</c> on its serial port within 30 s of being asked (after a move, on the destination).</summary>
    public static async Task<bool> AnswersAsync(GuestShell shell, int move, CancellationToken ct)
    {
        try
        {
            await shell.RunAsync($"echo moved-{move}-o''k", $"moved-{move}-ok", TimeSpan.FromSeconds(30), ct);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>
    /// Boots a guest, prepares it (disk data, the scenario's load), moves it to a fresh QEMU and asks
    /// it to answer there. Every move starts from a fresh boot, so that one guest's fate does not
    /// carry into the next move.
    /// </summary>
    private static async Task<(MoveFigures Figures, bool Answered)> MoveFreshGuestAsync(string images, MigrationScenario scenario, int move, bool bare, CancellationToken ct)
    {
        await using var source = await MigrationGuest.StartAsync(images, incoming: false, ct);
        await source.Shell.WaitForReadyAsync(ct);
        await PrepareAsync(source.Shell, scenario, ct);

        await using var destination = await MigrationGuest.StartAsync(images, incoming: true, ct);
        var figures = bare ? await MigrationMoves.BareAsync(source, destination, ct) : await MigrationMoves.EngineAsync(source, destination, ct);
        return (figures, await AnswersAsync(destination.Shell, move, ct));
    }
}
