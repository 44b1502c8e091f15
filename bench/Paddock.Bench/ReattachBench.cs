using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Paddock.Bench;

/// <summary>
/// <c>./paddock bench reattach [VMS]</c>: VMS running VMs (default 20) across a kill -9 of their
/// agent, twice: once as they are, once with one QEMU frozen (SIGSTOP) so that its monitor never
/// answers. Each time it prints how long the new agent took to re-attach them (its own log) and
/// from its start to its registration with the portal, and checks that every QEMU lived on (same
/// pid). Figures only; the agent re-attaches up to 16 VMs at once, so the frozen one holds up only
/// itself (for the monitor's connect timeout).
/// </summary>
public static partial class ReattachBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = args is [var first, ..] && int.TryParse(first, out var n) && n > 1 ? n : 20;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(10 + count / 2));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        var ct = cancel.Token;

        // The bench's account is an admin: it raises its own quota and the CPU ratio for VMS one-vCPU VMs on this machine.
        await using var instance = await Instance.StartAsync(ct, forMigration: true);
        using var api = await PortalApi.SignInAsync(instance.PortalUrl, Instance.User, instance.Password, instance.CertificateSha256, ct);
        await api.PutAsync("/api/policy/overcommit", new { cpuRatio = 64.0 }, ct);
        await api.PutAsync($"/api/quotas/users/{Instance.User}", new { limits = new { vms = count, vCpus = count, memoryMiB = count * 256, diskMiB = count * 1024 } }, ct);

        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            // On QEMU's own NAT: the killed agents leave no bridge or dnsmasq of the bench's behind.
            ids.Add(await api.CreateVmAsync($"reattach-{i}", ct, isolated: true));
        }

        foreach (var id in ids)
        {
            await api.WaitForStatusAsync(id, "Running", TimeSpan.FromMinutes(5), ct);
        }

        Console.WriteLine($"{count} VMs running; {Environment.ProcessorCount} CPUs");
        var plain = await KillAndReattachAsync(instance, ids, frozen: null, ct);
        var withFrozen = await KillAndReattachAsync(instance, ids, frozen: ids[0], ct);

        Console.WriteLine();
        Console.WriteLine($"{"agent kill -9 with",-28} {"VMs lived",10} {"re-attach (agent)",18} {"start -> registered",20}");
        Print("all QEMUs answering", plain);
        Print("one QEMU frozen (SIGSTOP)", withFrozen);
        return plain.Survived == count && withFrozen.Survived == count ? 0 : 1;
    }

    private sealed record Outcome(int Survived, int Count, long ReattachMs, TimeSpan Registered);

    private static async Task<Outcome> KillAndReattachAsync(Instance instance, List<Guid> ids, Guid? frozen, CancellationToken ct)
    {
        var pids = ids.ToDictionary(id => id, id => Pid(instance, id));
        if (frozen is { } stopped)
        {
            Signal("-STOP", pids[stopped]);
        }

        var logLength = new FileInfo(instance.LogPath("agent")).Length;
        var startedAt = await instance.KillAndRestartAgentAsync(ct);
        var took = Stopwatch.StartNew();
        await Wait.UntilAsync(() => instance.RegisteredSinceAsync(startedAt, ct), TimeSpan.FromMinutes(2), "the new agent to register", ct,
            poll: TimeSpan.FromMilliseconds(50));
        var registered = took.Elapsed;
        if (frozen is { } thawed)
        {
            Signal("-CONT", pids[thawed]);
        }

        var survived = ids.Count(id => Pid(instance, id) == pids[id] && Directory.Exists($"/proc/{pids[id]}"));
        var reattach = await ReattachFigureAsync(instance, logLength, ct);
        return new Outcome(survived, ids.Count, reattach, registered);
    }

    /// <summary>The new agent's "Re-attached ... in N ms", from the part of its log written after <paramref name="from"/>.</summary>
    private static async Task<long> ReattachFigureAsync(Instance instance, long from, CancellationToken ct)
    {
        long? figure = null;
        await Wait.UntilAsync(() =>
        {
            using var log = new FileStream(instance.LogPath("agent"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            log.Seek(from, SeekOrigin.Begin);
            var text = new StreamReader(log).ReadToEnd();
            figure = ReattachLine().Match(text) is { Success: true } m ? long.Parse(m.Groups[1].Value) : null;
            return figure is not null;
        }, TimeSpan.FromSeconds(30), "the agent's re-attach figure in its log", ct);
        return figure!.Value;
    }

    private static int Pid(Instance instance, Guid id) =>
        int.Parse(File.ReadAllText(Path.Combine(instance.VmsDir, id.ToString(), "qemu", "qemu.pid")).Trim());

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", [signal, pid.ToString()]);
        kill.WaitForExit();
    }

    private static void Print(string what, Outcome o) =>
        Console.WriteLine($"{what,-28} {$"{o.Survived}/{o.Count}",10} {$"{o.ReattachMs} ms",18} {$"{o.Registered.TotalMilliseconds:0} ms",20}");

    [GeneratedRegex(@"Re-attached \d+ running VMs of \d+ in (\d+) ms")]
    private static partial Regex ReattachLine();
}
