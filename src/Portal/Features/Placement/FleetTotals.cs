using Marten;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Placement;

/// <summary>
/// The fleet summed: what its hosts have, what placement may book on them under each one's policy,
/// what the VMs hold, and what their QEMUs use. Read without a host's or a VM's document: four
/// figures per host, the few policies of their own, and sums that PostgreSQL makes.
/// </summary>
public sealed record FleetTotals(Resources Physical, Resources Capacity, Resources Allocated, long UsedBytes)
{
    public static async Task<FleetTotals> ReadAsync(IQuerySession session, CancellationToken ct = default)
    {
        var fleet = (await PolicyService.GetAsync(session, ct)).Overcommit;
        var own = (await session.Query<HostPolicy>().Where(p => p.Policy != null).ToListAsync(ct)).ToDictionary(p => p.Id, p => p.Policy!);
        var hosts = await session.Query<HostRecord>().Where(h => !h.Revoked)
            .Select(h => new HostFigures(h.Id, h.LogicalCpus, h.MemoryBytes, h.DiskBytes)).ToListAsync(ct);
        var allocated = await VmUsageTotals.PerHostAsync(session, ct);
        var totals = new FleetTotals(default, default, default, await session.Query<HostUsageReport>().SumAsync(u => u.RssBytes, ct));
        foreach (var host in hosts)
        {
            // As placement sees the host (PlacementService.HostsAsync), with only what capacity needs.
            var view = new HostView(host.Id, "", host.LogicalCpus, host.MemoryBytes / Mib, host.DiskBytes / Mib, own.GetValueOrDefault(host.Id) ?? fleet, default);
            var held = allocated.GetValueOrDefault(host.Id);
            totals = totals with
            {
                Physical = totals.Physical + new Resources(view.Cpus, view.MemoryMiB, view.DiskMiB),
                Capacity = totals.Capacity + Placement.Capacity(view),
                Allocated = totals.Allocated + (held is null ? default : new Resources(held.VCpus, held.MemoryMiB, held.DiskMiB)),
            };
        }

        return totals;
    }

    private const long Mib = 1024 * 1024;

    private sealed record HostFigures(Guid Id, int LogicalCpus, long MemoryBytes, long DiskBytes);
}
