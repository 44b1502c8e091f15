using Paddock.Testing;

namespace Paddock.Bench;

/// <summary>
/// <c>./paddock bench faults [VMS] [KILLS] [OUTAGES] [DOWN_SECONDS]</c>: issue #20's fault suite
/// (the e2e FaultSuiteTests' scenarios) at a larger size, with its timings: VMS VMs (default 4)
/// under the mixed workload while the portal is killed with kill -9 KILLS times (default 10), then
/// while PostgreSQL is stopped for DOWN_SECONDS (default 10) OUTAGES times (default 4). Prints the
/// summary table and each fault's recovery; exits 1 when a count that must be zero is not.
/// </summary>
public sealed class FaultBench(Instance instance) : IFaultTarget
{
    public static async Task<int> RunAsync(string[] args)
    {
        var numbers = args.Select(a => int.TryParse(a, out var n) && n > 0 ? n : -1).ToArray();
        if (numbers.Contains(-1) || numbers.Length > 4)
        {
            Console.Error.WriteLine("usage: ./paddock bench faults [VMS] [KILLS] [OUTAGES] [DOWN_SECONDS]");
            return 2;
        }

        int At(int i, int fallback) => numbers.Length > i ? numbers[i] : fallback;
        var (vmCount, kills, outages, down) = (At(0, 4), At(1, 10), At(2, 4), TimeSpan.FromSeconds(At(3, 10)));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(10 + 2 * (kills + outages)));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        var ct = cancel.Token;

        await using var instance = await Instance.StartAsync(ct);
        using var api = await PortalApi.SignInAsync(instance.PortalUrl, Instance.User, instance.Password, instance.CertificateSha256, ct);
        var vms = new List<Guid>();
        for (var i = 0; i < vmCount; i++)
        {
            // Isolated NICs: no tenant network, so no bridge under the bench agent's default prefix beside other runs' on this machine.
            vms.Add(await api.CreateVmAsync($"fault-{i}", ct, isolated: true));
        }

        foreach (var vm in vms)
        {
            await api.WaitForStatusAsync(vm, "Running", TimeSpan.FromSeconds(120), ct);
        }

        var seed = Environment.TickCount;
        var load = LoadAverage();
        Console.WriteLine($"{vmCount} VMs, seed {seed}; portal {instance.PortalUrl}, logs {instance.LogPath("*")}");
        var suite = new FaultSuite(new FaultBench(instance), [.. vms.Select(id => new FaultWorkload(api.Http, id))], seed, Console.WriteLine);
        var rows = new[] { await suite.PortalKillsAsync(kills, ct), await suite.DatabaseRestartsAsync(outages, down, ct) };

        Console.WriteLine();
        Console.WriteLine($"{Environment.ProcessorCount} CPUs; load average (1/5/15 min) at start {load}, at end {LoadAverage()}");
        Console.Write(FaultSuite.Table(rows));
        foreach (var row in rows)
        {
            Console.WriteLine($"recovery per fault, {row.Scenario} (s): {string.Join(", ", row.Recoveries.Select(r => r.TotalSeconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)))}");
        }

        Console.WriteLine("""
            recovery: from the fault's end (the portal answering again; PostgreSQL accepting connections again) until every VM
            is idle (no task holds it) and shows its true state (its QEMU runs exactly when the API says Running or Paused).
            """);
        return rows.All(r => r.Clean) ? 0 : 1;
    }

    string IFaultTarget.Connection => instance.Connection;

    Task IFaultTarget.KillPortalAsync() => instance.KillPortalAsync();

    Task IFaultTarget.StartPortalAsync() => instance.StartPortalAsync(CancellationToken.None);

    Task IFaultTarget.RestartDatabaseAsync(TimeSpan down) =>
        LocalDatabase.RestartAsync(instance.DataDir, instance.Connection, down, argv => ChildProcess.RunAsync(argv[0], argv[1..], CancellationToken.None));

    string IFaultTarget.AgentLog()
    {
        using var stream = new FileStream(instance.LogPath("agent"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]);
}
