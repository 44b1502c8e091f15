using Marten;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms;

/// <summary>What the VMs counted against a user or a group take, for the quotas below them.</summary>
public sealed class CountedVms : ICountedVms
{
    /// <summary>The statuses of a VM whose QEMU is up, for the running usage shown beside the quota.</summary>
    public static readonly IReadOnlyList<VmStatus> Running =
        [VmStatus.Running, VmStatus.Paused, VmStatus.Starting, VmStatus.ShuttingDown, VmStatus.Stopping, VmStatus.Saving, VmStatus.Migrating];

    private static readonly string[] RunningNames = [.. Running.Select(s => s.ToString())];

    public async Task<(QuotaUsage InUse, QuotaUsage Running)> TotalsAsync(IQuerySession session, Guid id, bool group, CancellationToken ct = default) =>
        (await VmUsageTotals.OfAsync(session, id, group, ct), await VmUsageTotals.OfAsync(session, id, group, ct, RunningNames));
}
