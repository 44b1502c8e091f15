using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Templates;

namespace Paddock.Unit.Portal.Templates;

public sealed class TemplateRulesTests
{
    private static readonly Guid Alice = Guid.NewGuid();
    private static readonly Guid Bob = Guid.NewGuid();
    private static readonly Guid Lab = Guid.NewGuid();

    private static VmTemplate Template(Sharing visibility = Sharing.Private, Guid? group = null, TemplateState state = TemplateState.Ready) =>
        new() { Id = Guid.NewGuid(), Name = "web", OwnerId = Alice, Visibility = visibility, GroupId = group, HostId = Guid.NewGuid(), State = state };

    [Fact]
    public void A_private_template_is_seen_by_its_owner_and_admins_only() =>
        Assert.Multiple(
            () => Assert.True(TemplateRules.MaySee(Template(), Alice, false, [])),
            () => Assert.True(TemplateRules.MaySee(Template(), Bob, true, [])),
            () => Assert.False(TemplateRules.MaySee(Template(), Bob, false, [Lab])));

    [Fact]
    public void A_template_published_to_a_group_is_seen_by_its_members_only() =>
        Assert.Multiple(
            () => Assert.True(TemplateRules.MaySee(Template(Sharing.Group, Lab), Bob, false, [Lab])),
            () => Assert.False(TemplateRules.MaySee(Template(Sharing.Group, Lab), Bob, false, [Guid.NewGuid()])));

    [Fact]
    public void A_published_template_is_not_shown_to_others_while_it_is_being_made() =>
        Assert.False(TemplateRules.MaySee(Template(Sharing.Everyone, state: TemplateState.Converting), Bob, false, []));

    [Fact]
    public void Delete_is_refused_while_linked_clones_exist_naming_them_as_far_as_the_caller_may_see()
    {
        LinkedClone[] clones = [new(Guid.NewGuid(), "a1", Alice), new(Guid.NewGuid(), "a2", Alice), new(Guid.NewGuid(), "secret", Bob)];

        Assert.Equal(
            "'web' has 3 linked clones ('a1', 'a2', 1 of other users); their disks are overlays of its image. Delete them first.",
            TemplateRules.DeleteRefusal(Template(), clones, Alice, isAdmin: false));
        Assert.Contains("'secret'", TemplateRules.DeleteRefusal(Template(), clones, Bob, isAdmin: true));
    }

    [Fact]
    public void A_template_without_clones_may_be_deleted_but_never_the_built_in_one() =>
        Assert.Multiple(
            () => Assert.Null(TemplateRules.DeleteRefusal(Template(), [], Alice, false)),
            () => Assert.Equal("The built-in template cannot be deleted.",
                TemplateRules.DeleteRefusal(new VmTemplate { Id = VmTemplate.BuiltinId }, [], Alice, true)));

    [Fact]
    public void Only_the_owner_or_an_admin_manages_a_template_and_nobody_the_built_in_one() =>
        Assert.Multiple(
            () => Assert.True(TemplateRules.MayManage(Template(), Alice, false)),
            () => Assert.False(TemplateRules.MayManage(Template(Sharing.Everyone), Bob, false)),
            () => Assert.True(TemplateRules.MayManage(Template(), Bob, true)),
            () => Assert.False(TemplateRules.MayManage(new VmTemplate { Id = VmTemplate.BuiltinId }, Bob, true)));

    [Theory]
    [InlineData("", "Name: required.")]
    [InlineData("a\u0000b", "Name: no control characters.")]
    public void Bad_template_names_are_refused_with_the_reason(string name, string reason) =>
        Assert.Equal(reason, TemplateRules.ValidateName(name));
}
