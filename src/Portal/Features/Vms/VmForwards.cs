using System.Security.Claims;
using Marten;
using Paddock.Portal.Features.Networks;

namespace Paddock.Portal.Features.Vms;

/// <summary>A VM's port forwards, as the caller may see and change them (<see cref="VmRights"/>); the rules are the Networks feature's.</summary>
public sealed class VmForwards(IDocumentStore store, ForwardService forwards, ChangeNotifier<VmChanged> notifier)
{
    public static async Task<IReadOnlyList<ForwardView>> ListAsync(IQuerySession session, ClaimsPrincipal user, Guid vmId, CancellationToken ct = default)
    {
        await VmRights.LoadAsync(session, user, vmId, VmAction.See, ct);
        return await ForwardService.ListAsync(session, vmId, ct);
    }

    public async Task<Guid> AddAsync(ClaimsPrincipal user, Guid vmId, NewForward request, CancellationToken ct = default)
    {
        var vm = await TargetAsync(user, vmId, ct);
        var id = await forwards.AddAsync(user, vm, request, ct);
        notifier.Publish(new VmChanged(vm.VmId, vm.OwnerId));
        return id;
    }

    public async Task DeleteAsync(ClaimsPrincipal user, Guid vmId, Guid forwardId, CancellationToken ct = default)
    {
        var vm = await TargetAsync(user, vmId, ct);
        await forwards.DeleteAsync(user, vm, forwardId, ct);
        notifier.Publish(new VmChanged(vm.VmId, vm.OwnerId));
    }

    private async Task<ForwardTarget> TargetAsync(ClaimsPrincipal user, Guid vmId, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var vm = await VmRights.LoadAsync(session, user, vmId, VmAction.ChangeForwards, ct);
        return vm.Status is VmStatus.Deleting || vm.PendingVerb is Engine.Contract.VmVerb.Delete
            ? throw new RefusedException($"'{vm.Name}' is being deleted.")
            : new ForwardTarget(vm.Id, vm.Name, vm.OwnerId, vm.HostId);
    }
}
