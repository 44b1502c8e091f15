using System.Security.Claims;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal;

/// <summary>The rights table of the README, written out here by hand, against <see cref="VmRights"/>.</summary>
public sealed class VmRightsTests
{
    /// <summary>Action: may a fellow group member, the owner, an admin? (A stranger may nothing.)</summary>
    private static readonly Dictionary<VmAction, (bool Member, bool Owner, bool Admin)> Expected = new()
    {
        [VmAction.See] = (true, true, true),
        [VmAction.Console] = (true, true, true),
        [VmAction.ManageViewers] = (false, true, true),
        [VmAction.Power] = (true, true, true),
        [VmAction.TakeSnapshot] = (true, true, true),
        [VmAction.ChangeCdrom] = (true, true, true),
        [VmAction.RevertSnapshot] = (false, true, true),
        [VmAction.DeleteSnapshot] = (false, true, true),
        [VmAction.ChangeHardware] = (false, true, true),
        [VmAction.ChangeSettings] = (false, true, true),
        [VmAction.ChangeForwards] = (false, true, true),
        [VmAction.ChangeLease] = (false, true, true),
        [VmAction.ChangeGroup] = (false, true, true),
        [VmAction.Clone] = (false, true, true),
        [VmAction.ConvertToTemplate] = (false, true, true),
        [VmAction.Delete] = (false, true, true),
        [VmAction.SetBalloon] = (false, false, true),
        [VmAction.ResolveIsolation] = (false, false, true),
        [VmAction.Migrate] = (false, false, true),
    };

    public static TheoryData<VmAction, VmRole> EveryActionAndRole()
    {
        var data = new TheoryData<VmAction, VmRole>();
        foreach (var action in Enum.GetValues<VmAction>())
        {
            foreach (var role in Enum.GetValues<VmRole>())
            {
                data.Add(action, role);
            }
        }

        return data;
    }

    [Fact]
    public void Every_action_is_in_the_expected_table() =>
        Assert.Equal(Enum.GetValues<VmAction>().Order(), Expected.Keys.Order());

    [Theory]
    [MemberData(nameof(EveryActionAndRole))]
    public void Each_role_may_do_exactly_what_the_table_says(VmAction action, VmRole role)
    {
        var (member, owner, admin) = Expected[action];
        var expected = role switch
        {
            VmRole.GroupMember => member,
            VmRole.Owner => owner,
            VmRole.Admin => admin,
            _ => false,
        };
        Assert.Equal(expected, VmRights.Allows(role, action));
        var vm = new Vm { Name = "web-1" };
        Assert.Equal(expected, VmRights.Refusal(vm, role, action) is null);
    }

    [Fact]
    public void A_group_member_is_told_only_the_owner_or_an_admin_may_and_what()
    {
        var vm = new Vm { Name = "web-1" };
        Assert.Equal("Only the owner of 'web-1' or an admin may delete it.", VmRights.Refusal(vm, VmRole.GroupMember, VmAction.Delete));
        Assert.Equal("Only the owner of 'web-1' or an admin may clone it.", VmRights.Refusal(vm, VmRole.GroupMember, VmAction.Clone));
        Assert.Equal("Only admins set a VM's balloon.", VmRights.Refusal(vm, VmRole.Owner, VmAction.SetBalloon));
        Assert.Equal("No such VM.", VmRights.Refusal(vm, VmRole.Stranger, VmAction.See));
    }

    [Theory]
    [InlineData(VmVerb.Start, VmAction.Power)]
    [InlineData(VmVerb.Shutdown, VmAction.Power)]
    [InlineData(VmVerb.Reboot, VmAction.Power)]
    [InlineData(VmVerb.Pause, VmAction.Power)]
    [InlineData(VmVerb.Resume, VmAction.Power)]
    [InlineData(VmVerb.Reset, VmAction.Power)]
    [InlineData(VmVerb.PowerOff, VmAction.Power)]
    [InlineData(VmVerb.Save, VmAction.Power)]
    [InlineData(VmVerb.Restore, VmAction.Power)]
    [InlineData(VmVerb.SendKeys, VmAction.Power)]
    [InlineData(VmVerb.Snapshot, VmAction.TakeSnapshot)]
    [InlineData(VmVerb.RevertSnapshot, VmAction.RevertSnapshot)]
    [InlineData(VmVerb.DeleteSnapshot, VmAction.DeleteSnapshot)]
    [InlineData(VmVerb.ChangeMedium, VmAction.ChangeCdrom)]
    [InlineData(VmVerb.ChangeHardware, VmAction.ChangeHardware)]
    [InlineData(VmVerb.Configure, VmAction.ChangeSettings)]
    [InlineData(VmVerb.ConvertToTemplate, VmAction.ConvertToTemplate)]
    [InlineData(VmVerb.Delete, VmAction.Delete)]
    [InlineData(VmVerb.MigrateOut, VmAction.Migrate)]
    [InlineData(VmVerb.CancelMigration, VmAction.Migrate)]
    public void Each_verb_of_an_existing_vm_falls_under_its_row(VmVerb verb, VmAction action) =>
        Assert.Equal(action, VmRights.ActionOf(verb));

    [Fact]
    public void Every_verb_but_create_has_a_row() =>
        Assert.All(Enum.GetValues<VmVerb>().Where(v => v != VmVerb.Create), v => VmRights.ActionOf(v));

    [Fact]
    public void The_role_is_admin_over_owner_over_group_member_over_stranger()
    {
        var (owner, group) = (Guid.NewGuid(), Guid.NewGuid());
        var shared = new Vm { OwnerId = owner, GroupId = group };
        var unshared = new Vm { OwnerId = owner };
        Assert.Equal(VmRole.Admin, VmRights.RoleOf(User(owner, admin: true), shared, []));
        Assert.Equal(VmRole.Owner, VmRights.RoleOf(User(owner), shared, []));
        Assert.Equal(VmRole.GroupMember, VmRights.RoleOf(User(Guid.NewGuid()), shared, [group]));
        Assert.Equal(VmRole.Stranger, VmRights.RoleOf(User(Guid.NewGuid()), shared, [Guid.NewGuid()]));
        Assert.Equal(VmRole.Stranger, VmRights.RoleOf(User(Guid.NewGuid()), unshared, [group]));
    }

    private static ClaimsPrincipal User(Guid id, bool admin = false) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, id.ToString()), .. admin ? [new Claim(ClaimTypes.Role, Roles.Admin)] : Array.Empty<Claim>()], "test"));
}
