using System.Globalization;
using System.Text.RegularExpressions;
using Paddock.Engine.Vms;

namespace Paddock.Bench;

/// <summary>
/// The guest moved through Paddock, as an admin moves it: a VM of the built-in template (256 MiB,
/// 1 vCPU) created through the portal's API on the first host agent, then moved by
/// <c>POST /api/vms/{id}/migrate</c> to a second agent on this machine and back, RUNS times per
/// scenario. The portal steps the move (MigrateIn, MigrateOut, FinishMigration, the source's copy
/// deleted) and the agents relay the disks and memory as WebSockets through it. Both agents run
/// with <c>Agent:TestMonitor</c>: the bench reads STOP and RESUME on each QEMU's second monitor.
/// </summary>
public static partial class PaddockMigrations
{
    private static readonly TimeSpan Within = TimeSpan.FromMinutes(5);

    /// <summary>One host agent: its name, its id, and where it keeps its VMs' run directories.</summary>
    private sealed record Side(string Name, Guid Id, string VmsDir);

    /// <summary>Adds each scenario's moves through Paddock to its results, the scenarios in order, in one VM.</summary>
    public static async Task RunAsync(IReadOnlyList<(MigrationScenario Scenario, MigrationResults Results)> all, int runs, CancellationToken ct)
    {
        await using var instance = await Instance.StartAsync(ct, forMigration: true);
        Console.WriteLine($"through Paddock: portal {instance.PortalUrl}, logs {instance.LogPath("*")}");
        using var api = await PortalApi.SignInAsync(instance.PortalUrl, Instance.User, instance.Password, instance.CertificateSha256, ct);
        var vm = await api.CreateVmAsync("bench-migrate", ct);
        await api.WaitForStatusAsync(vm, "Running", TimeSpan.FromSeconds(60), ct);
        // Joined after the create, so that the VM starts on the first host.
        await instance.StartSecondAgentAsync(ct);
        var from = new Side(Instance.FirstHost, await instance.HostIdAsync(Instance.FirstHost, ct), instance.VmsDir);
        var to = new Side(Instance.SecondHost, await instance.HostIdAsync(Instance.SecondHost, ct), instance.SecondVmsDir);
        var shell = Shell(from, vm);
        await shell.WaitForReadyAsync(ct);
        await MigrationBench.PrepareAsync(shell, null, ct);

        var move = 0;
        foreach (var (scenario, results) in all)
        {
            Console.WriteLine($"{scenario.Name}: {runs} moves through Paddock, back and forth");
            await MigrationBench.LoadAsync(Shell(from, vm), scenario, ct);
            for (var run = 0; run < runs; run++, move++)
            {
                var figures = await MoveAsync(api, vm, from, to, ct);
                var answered = await MigrationBench.AnswersAsync(Shell(to, vm), move, ct);
                results.Paddock.Add(figures);
                results.Answers.Add(("paddock", answered));
                Console.WriteLine($"  move {move + 1} (paddock, {from.Name} -> {to.Name}): {MigrationBench.Outcome(move, answered, figures)}");
                await SettledAsync(api, vm, from, ct);
                (from, to) = (to, from);
                if (!answered)
                {
                    await RebootAsync(api, vm, Shell(from, vm), scenario, ct);
                }
            }
        }

        await api.PowerOffAndDeleteAsync(vm, ct);
    }

    /// <summary>
    /// One move: the POST, the task until it ends, QEMU's figures from its message, and the real pause
    /// from the two test monitors. The destination's monitor is dialled as soon as its QEMU listens,
    /// which is long before FinishMigration lets the guest run there.
    /// </summary>
    private static async Task<MoveFigures> MoveAsync(PortalApi api, Guid vm, Side from, Side to, CancellationToken ct)
    {
        await using var source = await RawQmp.ConnectAsync(Paths(from, vm).TestMonitorSocket, ct);
        var postedAt = DateTimeOffset.UtcNow;
        var operation = await api.MigrateAsync(vm, to.Id, ct);
        await using var destination = await RawQmp.ConnectAsync(Paths(to, vm).TestMonitorSocket, ct);
        var task = await api.WaitForTaskAsync(vm, operation, Within, ct);
        if (task is not { State: "Succeeded", FinishedAt: { } finishedAt })
        {
            throw new InvalidOperationException($"Moving the VM from {from.Name} to {to.Name}: the task ended {task.State}: {task.Message}");
        }

        var (_, stopped) = await source.WaitForEventAsync("STOP", TimeSpan.FromSeconds(30), ct);
        var (_, resumed) = await destination.WaitForEventAsync("RESUME", TimeSpan.FromSeconds(30), ct);
        var qemu = QemuFigures().Match(task.Message ?? "");
        if (!qemu.Success)
        {
            throw new InvalidOperationException($"The task's message has no QEMU figures: {task.Message}");
        }

        return new MoveFigures((finishedAt - postedAt).TotalMilliseconds, Number(qemu, "downtime"), Number(qemu, "total"),
            (resumed - stopped).TotalMilliseconds, (long)Number(qemu, "ram") << 20, 0);
    }

    /// <summary>Until the VM rests Running on its new host and the source's copy is gone: the next move starts from a quiet state.</summary>
    private static async Task SettledAsync(PortalApi api, Guid vm, Side source, CancellationToken ct)
    {
        await api.WaitForStatusAsync(vm, "Running", TimeSpan.FromSeconds(60), ct);
        var left = Paths(source, vm).RunDirectory;
        await Wait.UntilAsync(() => !Directory.Exists(left), TimeSpan.FromSeconds(60), $"{left} removed", ct);
    }

    /// <summary>
    /// A guest that crashed on its new host is reset through the API and prepared again, so that the
    /// next move moves a guest doing what the scenario says (bare and engine boot a guest per move). Not timed.
    /// </summary>
    private static async Task RebootAsync(PortalApi api, Guid vm, GuestShell shell, MigrationScenario scenario, CancellationToken ct)
    {
        await api.RequestAsync(vm, "reset", ct);
        await api.WaitForStatusAsync(vm, "Running", TimeSpan.FromSeconds(60), ct);
        // The destination's serial log began with the move: the banner in it is this boot's.
        await shell.WaitForReadyAsync(ct);
        await MigrationBench.PrepareAsync(shell, scenario, ct);
        Console.WriteLine("  the guest was reset through the API and prepared again (not timed)");
    }

    private static VmPaths Paths(Side side, Guid vm) => VmPaths.For(side.VmsDir, vm);

    private static GuestShell Shell(Side side, Guid vm) => new(Paths(side, vm));

    private static double Number(Match match, string group) => double.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);

    // VmMigrations.Moved: "...; downtime 41 ms (QEMU), memory moved in 800 ms, disks in step after ... (.. MiB), 12 MiB of RAM sent."
    [GeneratedRegex(@"downtime (?<downtime>\d+) ms \(QEMU\), memory moved in (?<total>\d+) ms, .*, (?<ram>\d+) MiB of RAM sent")]
    private static partial Regex QemuFigures();
}
