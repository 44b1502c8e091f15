using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Unit.Portal.Placement;

// Here "Placement" alone would name this namespace: the alias, inside it, is found first.
using Placement = Paddock.Portal.Features.Placement.Placement;

/// <summary>
/// Any sequence of creates and changes, each decided by the admission rules the portal uses (quota
/// check, placement, growth on the VM's host), never leaves a host or a quota over its limit.
/// </summary>
public sealed class AdmissionPropertyTests
{
    private sealed record SimVm(Guid Id, int Owner, Guid Host, long VCpus, long MemoryMiB, long DiskMiB);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void No_sequence_of_creates_growths_and_deletes_oversteps_a_host_or_a_quota(int seed)
    {
        var random = new Random(seed);
        var policy = new OvercommitPolicy { CpuRatio = 2, RamRatio = 1.5, ReservedMemoryMiB = 256 };
        var hosts = Enumerable.Range(0, 3)
            .Select(i => (Id: Guid.NewGuid(), Name: $"h{i}", Cpus: 2 + i * 2, MemoryMiB: 2048L + i * 1024, DiskMiB: 20_000L + i * 10_000)).ToList();
        var limits = Enumerable.Range(0, 4)
            .Select(_ => new QuotaLimits(random.Next(2, 8), random.Next(2, 12), random.Next(1, 8) * 1024, random.Next(5, 40) * 1000)).ToList();
        var vms = new List<SimVm>();
        var admitted = 0;

        for (var step = 0; step < 2000; step++)
        {
            var views = hosts.Select(h => new HostView(h.Id, h.Name, h.Cpus, h.MemoryMiB, h.DiskMiB, policy, Allocated(vms, h.Id))).ToList();
            switch (random.Next(10))
            {
                case < 5:
                    admitted += TryCreate(random, vms, views, limits) ? 1 : 0;
                    break;
                case < 8 when vms.Count > 0:
                    admitted += TryGrow(random, vms, views, limits) ? 1 : 0;
                    break;
                default:
                    if (vms.Count > 0)
                        vms.RemoveAt(random.Next(vms.Count));
                    break;
            }

            foreach (var view in hosts.Select(h => new HostView(h.Id, h.Name, h.Cpus, h.MemoryMiB, h.DiskMiB, policy, Allocated(vms, h.Id))))
            {
                var capacity = Placement.Capacity(view);
                Assert.True(view.Allocated.VCpus <= capacity.VCpus && view.Allocated.MemoryMiB <= capacity.MemoryMiB
                    && view.Allocated.DiskMiB <= capacity.DiskMiB,
                    $"step {step}: host {view.Name} holds {view.Allocated} of {capacity}");
            }

            for (var owner = 0; owner < limits.Count; owner++)
            {
                Assert.Empty(QuotaRules.Check(limits[owner], QuotaUsage.Zero, Usage(vms, owner)));
            }
        }

        // The walk really pressed against the limits: it admitted much and was refused much.
        Assert.InRange(admitted, 200, 1900);
    }

    private static bool TryCreate(Random random, List<SimVm> vms, List<HostView> hosts, List<QuotaLimits> limits)
    {
        var owner = random.Next(limits.Count);
        var request = new Resources(random.Next(1, 4), random.Next(1, 5) * 256, random.Next(1, 20) * 500);
        var asked = new QuotaUsage(1, (int)request.VCpus, request.MemoryMiB, request.DiskMiB);
        if (QuotaRules.Check(limits[owner], Usage(vms, owner), asked).Count > 0)
            return false;
        if (Placement.Decide(hosts, request, Weigher.Spread).Chosen is not { } host)
            return false;
        vms.Add(new SimVm(Guid.NewGuid(), owner, host.Id, request.VCpus, request.MemoryMiB, request.DiskMiB));
        return true;
    }

    private static bool TryGrow(Random random, List<SimVm> vms, List<HostView> hosts, List<QuotaLimits> limits)
    {
        var index = random.Next(vms.Count);
        var vm = vms[index];
        var growth = random.Next(2) == 0 ? new Resources(random.Next(1, 3), 0, 0) : new Resources(0, 0, random.Next(1, 10) * 500);
        if (QuotaRules.Check(limits[vm.Owner], Usage(vms, vm.Owner), new QuotaUsage(0, (int)growth.VCpus, 0, growth.DiskMiB)).Count > 0)
            return false;
        if (Placement.CapacityRefusal(hosts.Single(h => h.Id == vm.Host), growth) is not null)
            return false;
        vms[index] = vm with { VCpus = vm.VCpus + growth.VCpus, DiskMiB = vm.DiskMiB + growth.DiskMiB };
        return true;
    }

    private static Resources Allocated(List<SimVm> vms, Guid host) =>
        vms.Where(v => v.Host == host).Aggregate(default(Resources), (sum, v) => sum + new Resources(v.VCpus, v.MemoryMiB, v.DiskMiB));

    private static QuotaUsage Usage(List<SimVm> vms, int owner) =>
        vms.Where(v => v.Owner == owner).Aggregate(QuotaUsage.Zero, (sum, v) => sum + new QuotaUsage(1, (int)v.VCpus, v.MemoryMiB, v.DiskMiB));
}
