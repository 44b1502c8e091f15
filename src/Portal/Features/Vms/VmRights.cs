using System.Security.Claims;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Vms;

/// <summary>Who the caller is to one VM. An admin who owns it is an admin.</summary>
public enum VmRole
{
    /// <summary>Neither its owner, nor in its group, nor an admin: the VM does not exist for them.</summary>
    Stranger,

    /// <summary>A fellow member of the group the owner shared it with.</summary>
    GroupMember,

    Owner,
    Admin,
}

/// <summary>What people ask of a VM, as the rights table in the README names it.</summary>
public enum VmAction
{
    /// <summary>Its page, its API view and its tasks.</summary>
    See,

    /// <summary>VNC and serial consoles, and the serial log download.</summary>
    Console,

    /// <summary>Disconnect someone from its consoles, make and revoke view-only share links of its screen.</summary>
    ManageViewers,

    /// <summary>Start, shutdown, reboot, pause, resume, reset, power off, save, restore, send keys.</summary>
    Power,

    TakeSnapshot,

    /// <summary>Insert or eject an ISO: what a person at the machine does with its drive.</summary>
    ChangeCdrom,

    RevertSnapshot,
    DeleteSnapshot,

    /// <summary>vCPUs, disks and NICs.</summary>
    ChangeHardware,

    /// <summary>Shutdown timeout, restart policy, boot order.</summary>
    ChangeSettings,

    /// <summary>Add or delete a port forward to one of its NICs (it counts in the owner's quota and opens the VM to the outside).</summary>
    ChangeForwards,

    /// <summary>Set its lease, or ask an admin for a longer one.</summary>
    ChangeLease,

    ChangeGroup,
    Clone,
    ConvertToTemplate,
    Delete,

    /// <summary>Take memory from the guest for the host's sake.</summary>
    SetBalloon,

    ResolveIsolation,

    /// <summary>Move it to another host while it runs, or call the move off.</summary>
    Migrate,
}

/// <summary>
/// The one table of who may do what with a VM. Group members use the VM (consoles, power,
/// snapshots taken); what costs its owner (hardware, settings, lease, group), what destroys the
/// owner's data (revert, snapshot delete, delete, convert) and copies into another account (clone)
/// are the owner's word; a few levers are the admins' alone. Every endpoint, page and console asks here.
/// </summary>
public static class VmRights
{
    private enum Who
    {
        /// <summary>The owner's group members, the owner and admins.</summary>
        Members,

        /// <summary>The owner and admins.</summary>
        Owner,

        Admins,
    }

    /// <summary>Who may, and how a refusal says what was asked ("... may delete it").</summary>
    private static readonly Dictionary<VmAction, (Who Who, string What)> Table = new()
    {
        [VmAction.See] = (Who.Members, "see it"),
        [VmAction.Console] = (Who.Members, "open its consoles"),
        [VmAction.ManageViewers] = (Who.Owner, "disconnect its console viewers or share its screen"),
        [VmAction.Power] = (Who.Members, "start or stop it"),
        [VmAction.TakeSnapshot] = (Who.Members, "take snapshots of it"),
        [VmAction.ChangeCdrom] = (Who.Members, "change its CD"),
        [VmAction.RevertSnapshot] = (Who.Owner, "revert it to a snapshot"),
        [VmAction.DeleteSnapshot] = (Who.Owner, "delete its snapshots"),
        [VmAction.ChangeHardware] = (Who.Owner, "change its hardware"),
        [VmAction.ChangeSettings] = (Who.Owner, "change its settings"),
        [VmAction.ChangeForwards] = (Who.Owner, "change its port forwards"),
        [VmAction.ChangeLease] = (Who.Owner, "change its lease"),
        [VmAction.ChangeGroup] = (Who.Owner, "change its group"),
        [VmAction.Clone] = (Who.Owner, "clone it"),
        [VmAction.ConvertToTemplate] = (Who.Owner, "convert it to a template"),
        [VmAction.Delete] = (Who.Owner, "delete it"),
        [VmAction.SetBalloon] = (Who.Admins, "set a VM's balloon"),
        [VmAction.ResolveIsolation] = (Who.Admins, "resolve isolation alerts"),
        [VmAction.Migrate] = (Who.Admins, "migrate VMs"),
    };

    /// <summary>Whether <paramref name="role"/> may do <paramref name="action"/>.</summary>
    public static bool Allows(VmRole role, VmAction action) => (role, Table[action].Who) switch
    {
        (VmRole.Stranger, _) => false,
        (VmRole.Admin, _) => true,
        (VmRole.Owner, var who) => who is not Who.Admins,
        (VmRole.GroupMember, var who) => who is Who.Members,
        _ => false,
    };

    /// <summary>
    /// Why <paramref name="role"/> may not do <paramref name="action"/> with <paramref name="vm"/>, in
    /// a sentence; null when it may. A stranger is told what a random id gets: to them the VM does not exist.
    /// </summary>
    public static string? Refusal(Vm vm, VmRole role, VmAction action) =>
        Allows(role, action) ? null
        : role is VmRole.Stranger ? new VmNotFoundException().Message
        : Table[action].Who is Who.Admins ? $"Only admins {Table[action].What}."
        : $"Only the owner of '{vm.Name}' or an admin may {Table[action].What}.";

    /// <summary>The row of the table a verb of the agent's contract falls under.</summary>
    public static VmAction ActionOf(VmVerb verb) => verb switch
    {
        VmVerb.Start or VmVerb.Shutdown or VmVerb.Reboot or VmVerb.Pause or VmVerb.Resume or VmVerb.Reset
            or VmVerb.PowerOff or VmVerb.Save or VmVerb.Restore or VmVerb.SendKeys or VmVerb.TypeText or VmVerb.StopTyping => VmAction.Power,
        VmVerb.Snapshot => VmAction.TakeSnapshot,
        VmVerb.RevertSnapshot => VmAction.RevertSnapshot,
        VmVerb.DeleteSnapshot => VmAction.DeleteSnapshot,
        VmVerb.ChangeMedium => VmAction.ChangeCdrom,
        VmVerb.ChangeHardware => VmAction.ChangeHardware,
        VmVerb.Configure or VmVerb.SetGuestPassword => VmAction.ChangeSettings,
        VmVerb.ConvertToTemplate => VmAction.ConvertToTemplate,
        VmVerb.Delete => VmAction.Delete,
        // The steps of a live migration, each sent to one of its two hosts.
        VmVerb.MigrateOut or VmVerb.MigrateIn or VmVerb.FinishMigration or VmVerb.CancelMigration => VmAction.Migrate,
        // Create has no VM yet: who may create is the quota's and the policy's question.
        _ => throw new ArgumentOutOfRangeException(nameof(verb), verb, "Not an operation on an existing VM."),
    };

    public static VmRole RoleOf(ClaimsPrincipal user, Vm vm, IReadOnlyCollection<Guid> groups) =>
        user.IsAdmin() ? VmRole.Admin
        : vm.OwnerId == user.UserId() ? VmRole.Owner
        : vm.GroupId is { } group && groups.Contains(group) ? VmRole.GroupMember
        : VmRole.Stranger;

    public static async Task<VmRole> RoleOfAsync(IQuerySession session, ClaimsPrincipal user, Vm vm, CancellationToken ct = default) =>
        user.IsAdmin() || vm.OwnerId == user.UserId() || vm.GroupId is null
            ? RoleOf(user, vm, [])
            : RoleOf(user, vm, await GroupService.GroupsOfAsync(session, user.UserId(), ct));

    /// <summary>
    /// Lets <paramref name="user"/> do <paramref name="action"/> with <paramref name="vm"/>, or throws:
    /// <see cref="VmNotFoundException"/> for a stranger (or no VM), <see cref="VmForbiddenException"/>
    /// with the sentence for someone who sees the VM but may not do this.
    /// </summary>
    public static async Task<Vm> DemandAsync(IQuerySession session, ClaimsPrincipal user, Vm? vm, VmAction action, CancellationToken ct = default)
    {
        if (vm is null)
        {
            throw new VmNotFoundException();
        }

        var role = await RoleOfAsync(session, user, vm, ct);
        if (role is VmRole.Stranger)
        {
            throw new VmNotFoundException();
        }

        return Refusal(vm, role, action) is { } refusal ? throw new VmForbiddenException(refusal) : vm;
    }

    /// <summary>
    /// For pages and sockets, which answer rather than throw: the VM when <paramref name="user"/> may
    /// do <paramref name="action"/> with it; else the refusal to show, or neither for a stranger (404).
    /// </summary>
    public static async Task<(Vm? Vm, string? Refusal)> FindForAsync(IQuerySession session, ClaimsPrincipal user, Guid vmId, VmAction action, CancellationToken ct = default)
    {
        var vm = await session.LoadAsync<Vm>(vmId, ct);
        var role = vm is null ? VmRole.Stranger : await RoleOfAsync(session, user, vm, ct);
        return role is VmRole.Stranger ? (null, null) : Refusal(vm!, role, action) is { } refusal ? (null, refusal) : (vm, null);
    }

    /// <summary>The VM's stream for writing. The empty id is no VM's (Marten refuses it as a stream id): not found, as any unknown id.</summary>
    public static Task<JasperFx.Events.IEventStream<Vm>> FetchForWritingAsync(IDocumentSession session, Guid vmId, CancellationToken ct = default) =>
        vmId == Guid.Empty ? throw new VmNotFoundException() : session.Events.FetchForWriting<Vm>(vmId, ct);

    /// <summary>Loads the VM and lets <paramref name="user"/> do <paramref name="action"/> with it, or throws as <see cref="DemandAsync"/> does.</summary>
    public static async Task<Vm> LoadAsync(IQuerySession session, ClaimsPrincipal user, Guid vmId, VmAction action, CancellationToken ct = default) =>
        await DemandAsync(session, user, await session.LoadAsync<Vm>(vmId, ct), action, ct);
}

/// <summary>The caller sees the VM but may not do this with it (a 403, with the reason).</summary>
public sealed class VmForbiddenException(string message) : RefusedException(message)
{
    /// <summary>Someone who sees the VM but may not do this: the reason, and 403 rather than 404.</summary>
    public override IResult ToProblem(Dictionary<string, object?>? offer) => Results.Problem(statusCode: 403, title: Message);
}
