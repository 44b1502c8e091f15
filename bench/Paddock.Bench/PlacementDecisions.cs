using System.Diagnostics;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Bench;

/// <summary>
/// Placement over a simulated fleet: 10,000 hosts of mixed sizes carrying 100,000 VM allocations,
/// timing <see cref="Placement.Decide"/> (filters, weigher, the reasons for every host passed
/// over) per decision, and the memory the fleet model and each decision take. The database work
/// around a real placement (reading hosts and allocations, the ledger) is not in these figures.
/// </summary>
public static class PlacementDecisions
{
    public static void Run(int hosts = 10_000, int allocations = 100_000, int decisions = 2_000)
    {
        var random = new Random(42);
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var ids = Enumerable.Range(0, hosts).Select(_ => Guid.NewGuid()).ToArray();
        var cpus = ids.Select(_ => random.Next(16, 129)).ToArray();
        var memory = ids.Select(_ => random.Next(64, 1025) * 1024L).ToArray();
        var allocated = new Resources[hosts];
        for (var i = 0; i < allocations; i++)
        {
            var host = random.Next(hosts);
            allocated[host] += new Resources(random.Next(1, 5), random.Next(1, 9) * 1024L, random.Next(10, 101) * 1024L);
        }

        var policies = new[] { OvercommitPolicy.Default, OvercommitPolicy.Default with { RamRatio = 1.5 }, OvercommitPolicy.Default with { CpuRatio = 8 } };
        var fleet = Enumerable.Range(0, hosts).Select(i => new HostView(
            ids[i], $"host-{i:00000}", cpus[i], memory[i], 20 * 1024 * 1024, policies[i % policies.Length], allocated[i],
            Reachable: i % 97 != 0, Maintenance: i % 101 == 0)).ToList();
        var model = GC.GetTotalMemory(forceFullCollection: true) - before;

        foreach (var weigher in new[] { Weigher.Spread, Weigher.Pack })
        {
            // Warm up the JIT, then time each decision alone.
            for (var i = 0; i < 50; i++)
            {
                Placement.Decide(fleet, new Resources(2, 4096, 20 * 1024), weigher);
            }

            var samples = new List<double>(decisions);
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var placed = 0;
            for (var i = 0; i < decisions; i++)
            {
                var request = new Resources(random.Next(1, 9), random.Next(1, 65) * 1024L, random.Next(10, 201) * 1024L);
                var watch = Stopwatch.StartNew();
                var decision = Placement.Decide(fleet, request, weigher);
                samples.Add(watch.Elapsed.TotalMilliseconds);
                placed += decision.Chosen is null ? 0 : 1;
            }

            var perDecision = (GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / decisions;
            Table.Header($"placement, {hosts:N0} hosts, {allocations:N0} allocations, {weigher.ToString().ToLowerInvariant()} (n={decisions})");
            Table.Row("one decision", samples);
            Console.WriteLine($"  p99 {Percentile(samples, 0.99):0.00} ms; {placed} of {decisions} placed; {perDecision / 1024.0:0} KiB allocated per decision");
        }

        Console.WriteLine($"  fleet model: {model / (1024.0 * 1024):0.0} MiB for {hosts:N0} hosts");
    }

    private static double Percentile(List<double> samples, double p)
    {
        var sorted = samples.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
