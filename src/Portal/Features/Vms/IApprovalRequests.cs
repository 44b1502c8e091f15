using System.Security.Claims;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// Asks an admin for what a person cannot take alone: a VM over quota or needing approval, a longer
/// lease. Requests implements it (approving provisions through the VM service), so that the VM
/// pages offer it without depending on Requests.
/// </summary>
public interface IApprovalRequests
{
    /// <summary>The longest justification a request takes (and an admin's answer to it).</summary>
    const int MaxTextLength = 1000;

    /// <summary>The request's id; a VM that fits after all is created at once and its request approved.</summary>
    Task<Guid> SubmitVmAsync(ClaimsPrincipal user, NewVm vm, string? justification, CancellationToken ct = default);

    Task<Guid> SubmitLeaseAsync(ClaimsPrincipal user, Guid vmId, int? leaseMinutes, string? justification, CancellationToken ct = default);
}
