using System.Diagnostics;
using Paddock.Engine.Networks;
using Paddock.Engine.Qemu;
using Paddock.Testing;

namespace Paddock.Bench;

/// <summary>
/// <c>./paddock bench net [RUNS] [MIB]</c>: VM-to-VM throughput and round trip on tenant networks,
/// beside two QEMUs whose taps the bench joins with a plain Linux bridge. Two "hosts" on this
/// machine (agent network prefixes bz and by, VXLAN on 127.0.0.1 ports 4781 and 4780) run the
/// agent's own network code through the e2e tests' <see cref="NetworkHostHarness"/>: one network,
/// a sender and a receiver on bz, a second receiver on by. The baseline's two guests are started by
/// the same harness (prefix bx, which never makes a network), their taps into <see cref="PlainBridge"/>.
/// Each round measures the three pairs in turn (a warm-up round first, not counted: TCG translates
/// the guests' code on its first run); the figures are medians. No asserts: it prints the goal
/// (at least 0.9x the baseline's throughput, at most 1.1x its round trip) and whether it is met.
/// </summary>
public static class NetworkBench
{
    public const double ThroughputGoal = 0.9;
    public const double RoundTripGoal = 1.1;
    public const int Pings = 10;

    /// <summary>The baseline's harness makes no network, so no VXLAN listens on it.</summary>
    private const int BaselinePort = 4779;

    private static readonly VxlanEndpoint Bz = new("127.0.0.1", 4781), By = new("127.0.0.1", 4780);
    private static readonly NetworkSpec Tenant = new(Guid.NewGuid(), 0x7c01, "10.253.0.0/24", "10.253.0.1", Nat: false);

    /// <summary>Marks the baseline's NICs as taps for the harness and QEMU's command line; no host is ever told to carry it.</summary>
    private static readonly NetworkSpec Plain = new(Guid.NewGuid(), 0x7c02, "10.254.0.0/24", "10.254.0.1", Nat: false);

    public static async Task<int> RunAsync(string[] args)
    {
        var runs = args is [var r, ..] && int.TryParse(r, out var parsedRuns) && parsedRuns > 0 ? parsedRuns : 5;
        var mib = args is [_, var m, ..] && int.TryParse(m, out var parsedMib) && parsedMib > 0 ? parsedMib : 32;
        var data = Environment.GetEnvironmentVariable("PADDOCK_TEST_DATA") ?? throw new InvalidOperationException("Run through ./paddock bench net.");
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5 + (runs + 1) * (1 + mib / 8)));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        var ct = cancel.Token;
        var root = Path.Combine(data, "network-bench");
        var load = MigrationReport.LoadAverage();
        Console.WriteLine($"net: {runs} rounds after 1 warm-up round not counted; {mib} MiB by nc and {Pings} pings 0.2 s apart per pair and round");

        await RemoveLeftoversAsync(root);
        try
        {
            var results = await MeasureAsync(Path.Combine(data, "images"), root, runs, mib, ct);
            NetworkReport.Print(results, runs, mib, load);
            return 0;
        }
        finally
        {
            // Whatever a failure left on the way (a QEMU, a network half made): gone before the bench ends.
            await RemoveLeftoversAsync(root);
        }
    }

    private static async Task<List<PairResults>> MeasureAsync(string images, string root, int runs, int mib, CancellationToken ct)
    {
        // Disposed in reverse: the QEMUs end and the networks go before the plain bridge does.
        await using var bridge = await PlainBridge.CreateAsync(ct);
        await using var bz = new NetworkHostHarness(root, "bz", Bz.Port);
        await using var by = new NetworkHostHarness(root, "by", By.Port);
        await using var bx = new NetworkHostHarness(root, "bx", BaselinePort);
        NetworkMember sender = new("s1", "52:54:00:7c:00:11", "10.253.0.11"), near = new("r1", "52:54:00:7c:00:12", "10.253.0.12"),
            far = new("r2", "52:54:00:7c:00:13", "10.253.0.13");
        await bz.Keeper.ApplyAsync([new(Tenant, [sender, near, far], [Bz, By])], ct);
        await by.Keeper.ApplyAsync([new(Tenant, [sender, near, far], [Bz, By])], ct);

        var clock = Stopwatch.StartNew();
        var guests = new[]
        {
            await StartAsync(bx, images, 3200001, Plain, "52:54:00:7c:01:11", "10.254.0.11", bridge.PlugAsync),
            await StartAsync(bx, images, 3200002, Plain, "52:54:00:7c:01:12", "10.254.0.12", bridge.PlugAsync),
            await StartAsync(bz, images, 3200003, Tenant, sender.Mac, sender.Address),
            await StartAsync(bz, images, 3200004, Tenant, near.Mac, near.Address),
            await StartAsync(by, images, 3200005, Tenant, far.Mac, far.Address),
        };
        foreach (var (shell, address) in guests)
        {
            await shell.WaitForReadyAsync(ct);
            await NetworkProbes.ConfigureAsync(shell, address, ct);
        }

        Console.WriteLine($"5 guests booted and addressed in {clock.Elapsed.TotalSeconds:0} s");
        var pairs = new[]
        {
            new PairResults(new GuestPair("plain bridge (baseline)", guests[0].Shell, guests[1].Shell, "10.254.0.12")),
            new PairResults(new GuestPair("tenant network, one host", guests[2].Shell, guests[3].Shell, near.Address)),
            new PairResults(new GuestPair("tenant network, across VXLAN", guests[2].Shell, guests[4].Shell, far.Address)),
        };
        for (var round = 0; round <= runs; round++)
        {
            foreach (var pair in pairs)
            {
                var mbits = await NetworkProbes.ThroughputAsync(pair.Pair, mib, ct);
                var rtt = await NetworkProbes.RoundTripAsync(pair.Pair, Pings, ct);
                Console.WriteLine($"  {(round == 0 ? "warm-up" : $"round {round}")}, {pair.Pair.Label}: {mbits:0.0} Mbit/s, round trip {rtt:0.000} ms");
                if (round > 0)
                {
                    pair.Mbits.Add(mbits);
                    pair.RoundTripMs.Add(rtt);
                }
            }
        }

        return [.. pairs];
    }

    private static async Task<(GuestShell Shell, string Address)> StartAsync(NetworkHostHarness host, string images, int uid, NetworkSpec network,
        string mac, string address, TapPlug? plug = null)
    {
        var runDirectory = await host.StartVmAsync(images, uid, network, mac, address, plug);
        return (new GuestShell(new Engine.Vms.VmPaths(runDirectory)), address);
    }

    /// <summary>
    /// What a run left (one killed, or one that failed half way): its QEMUs, found by the bench's
    /// directory in their command lines, then everything under the bench's prefixes (a harness over
    /// the same directory, disposed with no VM, removes its networks, walls and dnsmasq), then the
    /// directory. The plain bridge goes with <see cref="PlainBridge"/> (made again from scratch).
    /// </summary>
    private static async Task RemoveLeftoversAsync(string root)
    {
        if (!Directory.Exists(root))
        {
            return;
        }

        foreach (var pid in Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Select(n => int.TryParse(n, out var p) ? p : 0).Where(p => p > 0))
        {
            string cmdline;
            try
            {
                cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            }
            catch (IOException)
            {
                continue;
            }

            if (cmdline.Split('\0')[0].Contains("qemu-system-", StringComparison.Ordinal) && cmdline.Contains(root + "/", StringComparison.Ordinal))
            {
                using var qemu = Process.GetProcessById(pid);
                qemu.Kill();
                await Wait.UntilAsync(() => !QemuProcess.IsAlive(pid), TimeSpan.FromSeconds(10), $"QEMU {pid} to end", CancellationToken.None);
            }
        }

        foreach (var (prefix, port) in new[] { ("bz", Bz.Port), ("by", By.Port), ("bx", BaselinePort) })
        {
            await using var leftover = new NetworkHostHarness(root, prefix, port);
        }

        Directory.Delete(root, recursive: true);
    }
}

/// <summary>One pair's figures over the counted rounds.</summary>
public sealed record PairResults(GuestPair Pair)
{
    public List<double> Mbits { get; } = [];

    public List<double> RoundTripMs { get; } = [];
}
