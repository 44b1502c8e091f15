using System.Security.Claims;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Engine.Images;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Images;

namespace Paddock.Portal.Features.Vms.Page;

/// <summary>
/// What one load of the VM page read: the VM and all that its panels show beside it. The page
/// swaps it whole, so no panel shows one load's VM beside another load's tasks.
/// </summary>
/// <param name="Role">The viewer's role on the VM (<see cref="VmRights"/>).</param>
/// <param name="OwnerGroups">The owner's groups by id: those the VM may be shared with.</param>
/// <param name="Isos">The ISOs the viewer may insert.</param>
/// <param name="Sandbox">For admins: how the VM's QEMU runs on its host; null when none runs.</param>
/// <param name="Confinement">For admins: the walls its host gives a VM's QEMU, as the agent registered them.</param>
/// <param name="Forwards">Its NICs' port forwards, with the address to use.</param>
public sealed record VmPageModel(
    Vm Vm,
    VmRole Role,
    bool IsAdmin,
    string OwnerName,
    IReadOnlyDictionary<Guid, string> OwnerGroups,
    IReadOnlyList<ImageSummary> Isos,
    VmTaskPage Tasks,
    VmUsage? Sandbox,
    string? Confinement,
    IReadOnlyList<Networks.ForwardView> Forwards)
{
    /// <summary>Reads what goes with <paramref name="vm"/>, which <paramref name="user"/> may see, with its <paramref name="tasks"/> newest tasks.</summary>
    public static async Task<VmPageModel> ReadAsync(IQuerySession session, ClaimsPrincipal user, Vm vm, int tasks = VmTasks.PageSize)
    {
        var groupIds = await GroupService.GroupsOfAsync(session, vm.OwnerId);
        var ownerGroups = (await session.LoadManyAsync<Group>(groupIds)).ToDictionary(g => g.Id, g => g.Name);
        var ownerName = (await session.LoadAsync<PortalUser>(vm.OwnerId))?.UserName ?? "another user";
        IReadOnlyList<ImageSummary> isos = [.. (await ImageService.ListAsync(session, user)).Where(i => i.Image.Kind == ImageKind.Iso)];
        var isAdmin = user.IsAdmin();
        var sandbox = isAdmin ? (await session.LoadAsync<HostUsageReport>(vm.HostId))?.Vms.FirstOrDefault(v => v.VmId == vm.Id) : null;
        var confinement = isAdmin ? (await session.LoadAsync<HostRecord>(vm.HostId))?.Confinement : null;
        return new(vm, await VmRights.RoleOfAsync(session, user, vm), isAdmin, ownerName, ownerGroups, isos,
            await VmTasks.LoadAsync(session, vm.Id, limit: tasks), sandbox, confinement, await Networks.ForwardService.ListAsync(session, vm.Id));
    }
}
