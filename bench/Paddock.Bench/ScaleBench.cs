using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;

namespace Paddock.Bench;

/// <summary>
/// <c>./paddock bench scale [HOSTS...] [--vms N]</c>: the portal and a second portal process on one
/// database, then hollow hosts joining in steps (default 100 and 500; issue #24 asks for 100, 500,
/// 1,000 and 2,000), and at each step N creates (default 500) through both portals at once. Prints
/// per step: how long the hosts took to join, admission throughput, create latency (p50, p95),
/// how long until every new VM ran, the VM list, Hosts and Capacity pages as the server renders them, the
/// portals' memory and CPU, and the database's size. Figures only; no asserts.
/// </summary>
public static class ScaleBench
{
    /// <summary>Creates in flight at once, spread over the owners (and so over the two portals).</summary>
    private const int InFlight = 32;

    /// <summary>How many people the creates come from.</summary>
    private const int Owners = 8;

    public static async Task<int> RunAsync(string[] args)
    {
        var (vmsPerStep, vmsAt) = Option(args, "--vms", 500);
        var (pageCount, pagesAt) = Option(args, "--pages", 200);
        var steps = args.Where((a, i) => i != vmsAt && i != vmsAt + 1 && i != pagesAt && i != pagesAt + 1).Select(int.Parse).ToList();
        steps = steps.Count > 0 ? steps : [100, 500];
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(30 + steps.Count * 15));
        var ct = cancel.Token;
        await using var instance = await Instance.StartPortalsAsync(ct);
        using var first = await PortalApi.SignInAsync(instance.PortalUrl, Instance.User, instance.Password, instance.CertificateSha256, ct);
        await first.PutAsync("/api/policy/overcommit", new { cpuRatio = 16, ramRatio = 1.5, diskRatio = 1.0, reservedCpus = 0, reservedMemoryMiB = 0, weigher = "Spread" }, ct);
        // The creates come from several owners, half through each portal process: one owner's creates wait for each other by design (its quota).
        string[] owners = [.. Enumerable.Range(0, Owners).Select(i => $"owner-{i}")];
        await instance.AddMembersAsync(owners, ct);
        var members = new List<PortalApi>();
        for (var i = 0; i < owners.Length; i++)
        {
            await first.PutAsync($"/api/quotas/users/{owners[i]}", new { limits = new { } }, ct);
            members.Add(await PortalApi.SignInAsync(i % 2 == 0 ? instance.PortalUrl : instance.SecondPortalUrl, owners[i], instance.Password, instance.CertificateSha256, ct));
        }

        var hosts = new List<HollowHost>();
        using var usage = new CancellationTokenSource();
        var reporting = ReportUsageAsync(hosts, usage.Token);
        LivePages? live = null;
        try
        {
            foreach (var target in steps)
            {
                var joining = Stopwatch.StartNew();
                await JoinAsync(instance, first, hosts, target, ct);
                joining.Stop();
                if (live is null && pageCount > 0)
                {
                    live = await LivePages.OpenAsync(instance, pageCount, ct);
                    Console.WriteLine($"{live.Count} pages of My VMs open on the first portal: {live.CircuitKiB:0} KiB of its resident memory each");
                }

                if (target == steps[0])
                {
                    Console.WriteLine("hosts   joined in   creates   admitted/s   create p50 / p95      all running after   VM list / Hosts / Capacity page   portals RSS / CPU s   database   " +
                        "waiting on locks: host / quota / template / other   commands/s   live pages p50 / p95 / missed");
                }

                using var sampling = new CancellationTokenSource();
                var waiting = LockWaitsAsync(instance, sampling.Token);
                var commandsBefore = hosts.Sum(h => h.Commands);
                var dispatching = Stopwatch.StartNew();
                var (wall, latencies, ids) = await AdmitAsync(members, vmsPerStep, hosts.Count, ct);
                await sampling.CancelAsync();
                var waits = await waiting;
                var running = Stopwatch.StartNew();
                await Wait.UntilAsync(async () => await RunningAsync(instance, ids, ct) == ids.Count, TimeSpan.FromMinutes(10), "every new VM running", ct,
                    poll: TimeSpan.FromMilliseconds(200));
                running.Stop();
                // Sent by the dispatchers and taken by the hosts, from the first create to the last VM running (admission bounds it).
                var commandsPerSecond = (hosts.Sum(h => h.Commands) - commandsBefore) / dispatching.Elapsed.TotalSeconds;
                // My VMs of an owner with a share of every step's VMs.
                var list = await TimeGetAsync(members[0], "/", ct);
                var hostsPage = await TimeGetAsync(first, "/admin/hosts", ct);
                var capacityPage = await TimeGetAsync(first, "/admin/capacity", ct);
                var (rss, cpu) = PortalUse(instance.PortalPids);
                var seen = live is null ? new LiveFigures([], 0, 0) : await live.MeasureAsync(5, ct);
                Console.WriteLine(
                    $"{hosts.Count,5}   {joining.Elapsed.TotalSeconds,7:0.0} s   {ids.Count,7}   {ids.Count / wall.TotalSeconds,10:0.0}   {Table.Quantile(latencies, 0.5),6:0} / {Table.Quantile(latencies, 0.95),6:0} ms   " +
                    $"{running.Elapsed.TotalSeconds,14:0.0} s   {list,6:0} / {hostsPage,6:0} / {capacityPage,6:0} ms   {rss >> 20,7} MiB / {cpu,6:0.0}   {await DatabaseMiBAsync(instance, ct),5} MiB   " +
                    $"{waits.Host,5:0.0} / {waits.Quota,4:0.0} / {waits.Template,4:0.0} / {waits.Other,4:0.0}   {commandsPerSecond,10:0.0}   " +
                    (seen.Latencies.Count == 0 ? "     - /      - ms / -" : $"{Table.Quantile(seen.Latencies, 0.5),6:0} / {Table.Quantile(seen.Latencies, 0.95),6:0} ms / {seen.Missed}"));
            }

            Console.WriteLine($"commands carried out by the hollow hosts: {hosts.Sum(h => h.Commands)}; VMs they hold: {hosts.Sum(h => h.Vms)}");
        }
        finally
        {
            if (live is not null)
            {
                await live.DisposeAsync();
            }

            members.ForEach(m => m.Dispose());
            await usage.CancelAsync();
            await reporting;
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }

        return 0;
    }

    /// <summary>The number after <paramref name="name"/> in the arguments (or <paramref name="otherwise"/>), and where the name stood (-1 when absent).</summary>
    private static (int Value, int At) Option(string[] args, string name, int otherwise)
    {
        var at = Array.IndexOf(args, name);
        return (at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1]) : otherwise, at);
    }

    /// <summary>Hollow hosts join until there are <paramref name="target"/>: a token each from the API, then enrolment and registration, many at once.</summary>
    private static async Task JoinAsync(Instance instance, PortalApi admin, List<HollowHost> hosts, int target, CancellationToken ct)
    {
        var certificate = instance.CertificateSha256;
        System.Net.Security.RemoteCertificateValidationCallback trust = (_, cert, _, _) =>
            cert is not null && Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(cert.GetRawCertData())) == certificate;
        var joining = Enumerable.Range(hosts.Count, target - hosts.Count)
            .Select(i => new HollowHost(instance.PortalUrl, $"hollow-{i:D4}", () => instance.TrustingHandler(), trust, HollowDelays.Realistic)).ToList();
        await Parallel.ForEachAsync(joining, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (host, token) =>
        {
            using var made = await admin.Http.PostAsJsonAsync("/api/hosts/join-tokens", new { note = host.Name, validForMinutes = 60 }, token);
            made.EnsureSuccessStatusCode();
            await host.JoinAsync((await made.Content.ReadFromJsonAsync<JsonElement>(token)).GetProperty("token").GetString()!, token);
            await host.ConnectAsync(token);
        });
        lock (hosts)
        {
            hosts.AddRange(joining);
        }
    }

    /// <summary><paramref name="count"/> creates, <see cref="InFlight"/> at a time, taking turns among the owners; the wall time, each create's latency (ms) and the new VMs' ids.</summary>
    private static async Task<(TimeSpan Wall, List<double> Latencies, List<Guid> Ids)> AdmitAsync(List<PortalApi> owners, int count, int hostCount, CancellationToken ct)
    {
        var latencies = new ConcurrentBag<double>();
        var ids = new ConcurrentBag<Guid>();
        var wall = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = InFlight, CancellationToken = ct }, async (i, token) =>
        {
            var clock = Stopwatch.StartNew();
            ids.Add(await owners[i % owners.Count].CreateVmAsync($"s{hostCount}-{i:D5}", token, isolated: true));
            latencies.Add(clock.Elapsed.TotalMilliseconds);
        });
        return (wall.Elapsed, [.. latencies.Order()], [.. ids]);
    }

    /// <summary>Transactions waiting on each kind of advisory lock, on average over the samples.</summary>
    private sealed record LockWaits(double Host, double Quota, double Template, double Other);

    /// <summary>
    /// While the creates run, every 100 ms: how many transactions wait for an advisory lock, by its
    /// kind: a host's booking, an owner's quota, a template, anything else (a network); the averages.
    /// The kinds are known by their keys (<see cref="Paddock.Portal.Shared.TransactionLocks.Key"/>),
    /// made from the ids in the database when sampling begins.
    /// </summary>
    private static async Task<LockWaits> LockWaitsAsync(Instance instance, CancellationToken stop)
    {
        await using var db = await instance.OpenDatabaseAsync(CancellationToken.None);
        var kinds = new Dictionary<long, int>();
        foreach (var (table, scope, kind) in new[]
        {
            ("mt_doc_hostrecord", Paddock.Portal.Shared.TransactionLocks.Placement, 0),
            ("mt_doc_portaluser", Paddock.Portal.Shared.TransactionLocks.Quota, 1),
            ("mt_doc_vmtemplate", Paddock.Portal.Shared.TransactionLocks.Template, 2),
        })
        {
            await using var ids = new NpgsqlCommand($"select id from paddock.{table}", db);
            await using var reader = await ids.ExecuteReaderAsync(CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None))
            {
                kinds[Paddock.Portal.Shared.TransactionLocks.Key(scope, reader.GetGuid(0).ToString("N"))] = kind;
            }
        }

        // A bigint advisory key is two oids in pg_locks: its high half in classid, its low half in objid.
        await using var command = new NpgsqlCommand(
            "select (classid::bigint << 32) | objid::bigint from pg_locks where locktype = 'advisory' and not granted", db);
        var samples = new List<double[]>();
        while (!stop.IsCancellationRequested)
        {
            var counts = new double[4];
            await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    counts[kinds.GetValueOrDefault(reader.GetInt64(0), 3)]++;
                }
            }

            samples.Add(counts);
            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        double Average(int kind) => samples.Count == 0 ? 0 : samples.Average(s => s[kind]);
        return new LockWaits(Average(0), Average(1), Average(2), Average(3));
    }

    private static async Task<long> RunningAsync(Instance instance, List<Guid> ids, CancellationToken ct)
    {
        await using var db = await instance.OpenDatabaseAsync(ct);
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_doc_vm where id = any(@ids) and data->>'Status' = 'Running' and data->>'PendingOperation' is null", db);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>A page as the server renders it (prerendered HTML), in ms.</summary>
    private static async Task<double> TimeGetAsync(PortalApi api, string path, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var response = await api.Http.GetAsync(path, ct);
        response.EnsureSuccessStatusCode();
        await response.Content.ReadAsByteArrayAsync(ct);
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>The portal processes' resident memory (bytes) and CPU time (s) so far, from /proc.</summary>
    private static (long Rss, double Cpu) PortalUse(IReadOnlyList<int> pids)
    {
        long rss = 0;
        double cpu = 0;
        foreach (var pid in pids)
        {
            rss += LivePages.ResidentBytes(pid);
            var stat = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            cpu += (long.Parse(stat[11]) + long.Parse(stat[12])) / 100.0;
        }

        return (rss, cpu);
    }

    private static async Task<long> DatabaseMiBAsync(Instance instance, CancellationToken ct)
    {
        await using var db = await instance.OpenDatabaseAsync(ct);
        await using var command = new NpgsqlCommand("select pg_database_size(current_database()) / 1048576", db);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Every host reports its use every 5 s, as agents do (spread over the period).</summary>
    private static async Task ReportUsageAsync(List<HollowHost> hosts, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                List<HollowHost> now;
                lock (hosts)
                {
                    now = [.. hosts];
                }

                var gap = TimeSpan.FromMilliseconds(5000.0 / Math.Max(1, now.Count));
                foreach (var host in now)
                {
                    _ = host.ReportUsageAsync(ct);
                    await Task.Delay(gap, ct);
                }

                if (now.Count == 0)
                {
                    await Task.Delay(1000, ct);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
