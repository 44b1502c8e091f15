using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace Paddock.Testing;

/// <summary>What the fault suite needs of the portal it breaks: the e2e fixture and the benchmark each give one.</summary>
public interface IFaultTarget
{
    /// <summary>kill -9 of the portal that serves the workload and that the VMs' agent is connected to.</summary>
    Task KillPortalAsync();

    /// <summary>Starts that portal again on the same address; returns once it answers.</summary>
    Task StartPortalAsync();

    /// <summary>Stops PostgreSQL (fast shutdown: every connection is cut), keeps it away for <paramref name="down"/>, starts it; returns once it accepts connections again.</summary>
    Task RestartDatabaseAsync(TimeSpan down);

    /// <summary>The database, for what only its event streams tell (an outcome recorded twice).</summary>
    string Connection { get; }

    /// <summary>What the VMs' agent has logged so far: one line per run of an operation.</summary>
    string AgentLog();
}

/// <summary>One line of the summary table. Every count but <see cref="Refused"/> must be zero; one recovery time per fault.</summary>
public sealed record FaultRow(string Scenario, int Faults, int Operations, int Refused, int VmsLost, int Duplicated, int Lost, IReadOnlyList<TimeSpan> Recoveries)
{
    public bool Clean => VmsLost == 0 && Duplicated == 0 && Lost == 0;

    public TimeSpan Recovery => Recoveries.Count == 0 ? TimeSpan.Zero : Recoveries.Max();

    public TimeSpan MedianRecovery => Recoveries.Count == 0 ? TimeSpan.Zero : Recoveries.Order().ElementAt(Recoveries.Count / 2);
}

/// <summary>
/// Issue #20's scripted faults under a mixed workload (<see cref="FaultWorkload"/>, one per VM, all
/// at once): each round every VM is asked one operation, and at a random point of some rounds the
/// fault strikes (the portal killed with kill -9 and started again, or PostgreSQL restarted). A
/// round ends when every VM is idle again and shows its true state (its QEMU runs exactly when the
/// portal says Running or Paused); the time from the fault's end to that is the recovery. Then it
/// counts: VMs lost (missing from the API, a state that is not the truth, two QEMUs), operations
/// duplicated (an operation run twice by the agent, an outcome recorded twice, more tasks than
/// requests), operations lost (an accepted request with no task, a task that never ended). Shared by
/// the e2e FaultSuiteTests and <c>./paddock bench faults</c>.
/// </summary>
public sealed partial class FaultSuite(IFaultTarget target, IReadOnlyList<FaultWorkload> vms, int seed, Action<string> say)
{
    /// <summary>How long a round may take to settle before its VMs count as lost.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(120);

    private readonly Random _random = new(seed);

    /// <summary>The VMs under the workload.</summary>
    public IReadOnlyList<FaultWorkload> Vms => vms;

    /// <summary>The portal killed <paramref name="kills"/> times, each at a random point of a round (in its first 1.5 s), with a quiet round between.</summary>
    public Task<FaultRow> PortalKillsAsync(int kills, CancellationToken ct) =>
        RunAsync($"portal kill -9 x{kills}", kills, TimeSpan.FromMilliseconds(1500), afterAnswers: false, async () =>
        {
            await target.KillPortalAsync();
            await target.StartPortalAsync();
        }, ct);

    /// <summary>
    /// PostgreSQL stopped <paramref name="restarts"/> times for <paramref name="down"/>, each within
    /// 50 ms of the round's requests being accepted, so that the operations' dispatch, the agent's
    /// outcomes and its state reports meet the outage.
    /// </summary>
    public Task<FaultRow> DatabaseRestartsAsync(int restarts, TimeSpan down, CancellationToken ct) =>
        RunAsync($"PostgreSQL down {down.TotalSeconds:0} s x{restarts}", restarts, TimeSpan.FromMilliseconds(50), afterAnswers: true, () => target.RestartDatabaseAsync(down), ct);

    /// <param name="within">The fault strikes at a random point this long after the round starts, or with <paramref name="afterAnswers"/> after its requests were answered.</param>
    private async Task<FaultRow> RunAsync(string scenario, int faults, TimeSpan within, bool afterAnswers, Func<Task> fault, CancellationToken ct)
    {
        var starts = vms.ToDictionary(v => v.VmId, v => v.Requests.Count);
        var recoveries = new List<TimeSpan>();
        for (var round = 0; round < faults * 2; round++)
        {
            // Odd rounds are quiet: what a fault left behind must not trouble the next operations.
            var strike = round % 2 == 0;
            var delay = TimeSpan.FromMilliseconds(_random.Next(0, (int)within.TotalMilliseconds));
            var faultEnded = Stopwatch.StartNew();
            var asked = new Barrier(vms.Count);
            var striking = strike ? StrikeAsync(fault, afterAnswers ? asked.All : Task.CompletedTask, delay, faultEnded, ct) : Task.CompletedTask;
            var settled = await Task.WhenAll(vms.Select(vm => RoundAsync(vm, asked, ct)));
            await striking;
            // A fault that struck after the round's operations ended must be recovered from too.
            settled = [.. settled, .. await Task.WhenAll(vms.Select(async vm => await WaitSettledAsync(vm, ct) is not null))];
            if (strike)
            {
                recoveries.Add(faultEnded.Elapsed);
                say($"{scenario}: fault {round / 2 + 1} after {delay.TotalMilliseconds:0} ms; every VM idle and true {faultEnded.Elapsed.TotalSeconds:0.0} s after it ended");
            }

            if (settled.Contains(false))
            {
                break;
            }
        }

        return await CountAsync(scenario, faults, starts, recoveries, ct);
    }

    private static async Task StrikeAsync(Func<Task> fault, Task start, TimeSpan delay, Stopwatch ended, CancellationToken ct)
    {
        await start.WaitAsync(ct);
        await Task.Delay(delay, ct);
        await fault();
        ended.Restart();
    }

    /// <summary>One operation on the VM, then a wait until it is idle and true; false when it never settles.</summary>
    private static async Task<bool> RoundAsync(FaultWorkload vm, Barrier asked, CancellationToken ct)
    {
        try
        {
            if (await WaitSettledAsync(vm, ct) is not { } status)
            {
                return false;
            }

            await vm.NextAsync(status, ct);
        }
        finally
        {
            asked.Arrive();
        }

        return await WaitSettledAsync(vm, ct) is not null;
    }

    /// <summary>Completes once every VM of the round has had its request answered (or given up).</summary>
    private sealed class Barrier(int count)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _left = count;

        public Task All => _all.Task;

        public void Arrive()
        {
            if (Interlocked.Decrement(ref _left) == 0)
            {
                _all.TrySetResult();
            }
        }
    }

    /// <summary>Polls the API until the VM is idle and its status is the truth; its status then, or null past <see cref="Settle"/>.</summary>
    private static async Task<string?> WaitSettledAsync(FaultWorkload vm, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < Settle)
        {
            if (await vm.ReadAsync(ct) is ({ } status, true) && IsTrue(status, QemuCount(vm.VmId)))
            {
                return status;
            }

            await Task.Delay(100, ct);
        }

        return null;
    }

    /// <summary>A VM's status is the truth when its QEMU runs exactly while the portal says Running or Paused.</summary>
    private static bool IsTrue(string status, int qemus) => status is "Running" or "Paused" ? qemus == 1 : status is "Stopped" && qemus == 0;

    /// <summary>The live QEMU processes of the VM, from /proc (a zombie's command line is empty).</summary>
    public static int QemuCount(Guid vmId)
    {
        var name = $"guest={vmId:D}";
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(dir), out _) && File.ReadAllText(Path.Combine(dir, "cmdline")) is var line
                    && line.Contains("qemu-system", StringComparison.Ordinal) && line.Split('\0').Contains(name))
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The process ended meanwhile.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return count;
    }

    private async Task<FaultRow> CountAsync(string scenario, int faults, Dictionary<Guid, int> starts, List<TimeSpan> recoveries, CancellationToken ct)
    {
        int vmsLost = 0, duplicated = 0, lost = 0, refused = 0, operations = 0;
        var runs = RunsByOperation(target.AgentLog());
        foreach (var vm in vms)
        {
            // Tasks are the VM's whole history: its requests of every scenario so far are held against them.
            var requests = vm.Requests;
            operations += requests.Count - starts[vm.VmId];
            refused += requests.Skip(starts[vm.VmId]).Count(r => r.Answer == Answer.Refused);
            var shown = await vm.ReadAsync(ct);
            if (shown is not ({ } status, _) || !IsTrue(status, QemuCount(vm.VmId)))
            {
                say($"{scenario}: VM {vm.VmId} is missing or not shown as it is: {shown?.ToString() ?? "missing"} with {QemuCount(vm.VmId)} QEMU");
                vmsLost++;
            }

            var tasks = await vm.TasksAsync(ct);
            var accepted = requests.Count(r => r.Answer == Answer.Accepted);
            var unknown = requests.Count(r => r.Answer == Answer.Unknown);
            var unended = tasks.Count(t => t.State == "Running");
            var twice = tasks.Count(t => runs.GetValueOrDefault(t.Id) > 1);
            lost += unended + Math.Max(0, accepted - tasks.Count);
            duplicated += twice + Math.Max(0, tasks.Count - accepted - unknown);
            if (unended + twice > 0 || tasks.Count < accepted || tasks.Count > accepted + unknown)
            {
                say($"{scenario}: VM {vm.VmId}: {accepted} accepted, {unknown} unanswered, {tasks.Count} tasks, {unended} never ended, {twice} run twice");
            }
        }

        duplicated += await OutcomesRecordedTwiceAsync(ct);
        return new FaultRow(scenario, faults, operations, refused, vmsLost, duplicated, lost, recoveries);
    }

    [GeneratedRegex(@"as operation (?<id>[0-9a-f-]{36})")]
    private static partial Regex RunLine();

    /// <summary>How often the agent ran each operation, from its "Running X of VM Y as operation Z" lines.</summary>
    public static IReadOnlyDictionary<Guid, int> RunsByOperation(string log) =>
        RunLine().Matches(log).GroupBy(m => Guid.Parse(m.Groups["id"].Value)).ToDictionary(g => g.Key, g => g.Count());

    private async Task<int> OutcomesRecordedTwiceAsync(CancellationToken ct)
    {
        await using var db = new NpgsqlConnection(target.Connection);
        await db.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            "select count(*) from (select 1 from paddock.mt_events where type = 'vm_operation_completed' and stream_id = any(@vms) " +
            "group by stream_id, data->>'OperationId' having count(*) > 1) twice", db);
        command.Parameters.AddWithValue("vms", vms.Select(v => v.VmId).ToArray());
        return (int)(long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The summary table issue #20 asks for.</summary>
    public static string Table(IEnumerable<FaultRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine($"{"scenario",-44} {"faults",6} {"ops",5} {"refused",7} {"VMs lost",8} {"duplicated",10} {"lost",5}   recovery median / max");
        foreach (var r in rows)
        {
            text.AppendLine(
                $"{r.Scenario,-44} {r.Faults,6} {r.Operations,5} {r.Refused,7} {r.VmsLost,8} {r.Duplicated,10} {r.Lost,5}   {r.MedianRecovery.TotalSeconds:0.0} s / {r.Recovery.TotalSeconds:0.0} s");
        }

        return text.ToString();
    }
}
