using System.Security.Claims;
using Marten;
using Paddock.Engine.Vms;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Vms;

/// <summary>Changes that make a VM hold more pass the same admission as a create.</summary>
public sealed partial class VmService
{
    /// <summary>Admits what <paramref name="vm"/> grows by against the same ledgers as a create, in the same order: the quota's, then the host's.</summary>
    private async Task AdmitGrowthAsync(IDocumentSession session, ClaimsPrincipal user, Vm vm, QuotaUsage growth, CancellationToken ct)
    {
        await quotas.AdmitAsync(session, vm.OwnerId, vm.GroupId, growth, ct);
        await PlacementService.AdmitGrowthAsync(session, vm.HostId, new Resources(growth.VCpus, growth.MemoryMiB, growth.DiskMiB), user.IsAdmin(), clock, ct);
    }
}
