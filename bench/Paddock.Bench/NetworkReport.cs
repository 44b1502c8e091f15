namespace Paddock.Bench;

/// <summary>The network benchmark's table: medians per pair, ratios to the plain bridge, and the goal, met or not.</summary>
public static class NetworkReport
{
    public static void Print(IReadOnlyList<PairResults> pairs, int runs, int mib, string load)
    {
        var baseline = pairs[0];
        Console.WriteLine();
        Console.WriteLine($"{Environment.ProcessorCount} CPUs; load average (1/5/15 min) at start {load}, at end {MigrationReport.LoadAverage()}; guests 192 MiB, 1 vCPU, TCG, virtio-net on a tap");
        Console.WriteLine($"{$"VM to VM (medians of {runs})",-34}{"throughput (Mbit/s)",-24}round trip (ms)");
        foreach (var pair in pairs)
        {
            var (mbits, rtt) = (Median(pair.Mbits), Median(pair.RoundTripMs));
            var ratios = pair == baseline ? ("", "") : ($" ({mbits / Median(baseline.Mbits):0.00}x)", $" ({rtt / Median(baseline.RoundTripMs):0.00}x)");
            Console.WriteLine($"  {pair.Pair.Label,-32}{$"{mbits:0.0}{ratios.Item1}",-24}{rtt:0.000}{ratios.Item2}");
        }

        Console.WriteLine($"goal: throughput at least {NetworkBench.ThroughputGoal:0.0}x and round trip at most {NetworkBench.RoundTripGoal:0.0}x the plain bridge's (medians)");
        foreach (var pair in pairs.Skip(1))
        {
            var throughput = Median(pair.Mbits) / Median(baseline.Mbits);
            var roundTrip = Median(pair.RoundTripMs) / Median(baseline.RoundTripMs);
            var misses = new List<string>();
            if (throughput < NetworkBench.ThroughputGoal)
            {
                misses.Add($"throughput {throughput:0.00}x < {NetworkBench.ThroughputGoal:0.0}x");
            }

            if (roundTrip > NetworkBench.RoundTripGoal)
            {
                misses.Add($"round trip {roundTrip:0.00}x > {NetworkBench.RoundTripGoal:0.0}x");
            }

            Console.WriteLine($"  {pair.Pair.Label}: {(misses.Count == 0 ? "met" : $"NOT met ({string.Join(", ", misses)})")}");
        }

        Console.WriteLine();
        Console.WriteLine("samples:");
        foreach (var pair in pairs)
        {
            Table.Samples($"{pair.Pair.Label}, Mbit/s", pair.Mbits);
            Console.WriteLine($"    {pair.Pair.Label}, ms: {string.Join("  ", pair.RoundTripMs.Select(v => v.ToString("0.000")))}");
        }

        Console.WriteLine();
        Console.WriteLine($"""
            what each figure is:
              throughput   {mib} MiB of zeros, dd bs=64k | nc, sender to a receiver's nc -l > /dev/null, timed by the sender's
                           /proc/uptime (10 ms steps) from before dd to nc's end (the receiver has read all and closed)
              round trip   the avg of busybox ping -c {NetworkBench.Pings} -i 0.2 from the sender (the ARP entry is warm)
              plain bridge two guests' taps in a bridge the bench made (bqplain0): no namespace, nftables or VXLAN
              one host     sender and receiver on one tenant network on one agent's host (prefix bz): its bridge and nftables walls
              across VXLAN the same sender to a receiver on a second agent's host (prefix by), kernel VXLAN over 127.0.0.1
            all guests are started alike (paused, tap by descriptor, then cont) and addressed by hand; the pairs take turns each round
            """);
    }

    private static double Median(IReadOnlyCollection<double> samples) => Summary.Of(samples).Median;
}
