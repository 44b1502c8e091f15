using Marten;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms;

/// <summary>The VMs counted against a user or a group, for the quotas below them.</summary>
public sealed class CountedVms : ICountedVms
{
    public async Task<IReadOnlyList<(IVmFootprint Vm, bool Runs)>> OfAsync(IQuerySession session, Guid id, bool group, CancellationToken ct = default)
    {
        var vms = group
            ? await session.Query<Vm>().Where(v => v.GroupId == id).ToListAsync(ct)
            : await session.Query<Vm>().Where(v => v.OwnerId == id).ToListAsync(ct);
        return [.. vms.Select(v => ((IVmFootprint)v, Runs(v)))];
    }

    /// <summary>Whether a VM's QEMU is up, for the running usage shown beside the quota.</summary>
    private static bool Runs(Vm vm) => vm.Status is VmStatus.Running or VmStatus.Paused or VmStatus.Starting or VmStatus.ShuttingDown or VmStatus.Stopping or VmStatus.Saving or VmStatus.Migrating;
}
