using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Images;

public sealed class HostImageNeedsTests
{
    private const string Base = "1111111111111111111111111111111111111111111111111111111111111111.qcow2";
    private const string Iso = "2222222222222222222222222222222222222222222222222222222222222222.iso";
    private const string Other = "3333333333333333333333333333333333333333333333333333333333333333.iso";

    private static AgentCommand ChangeCd(string? image, AgentCommandState state) =>
        new() { Command = new VmCommand(Guid.NewGuid(), Guid.NewGuid(), VmVerb.ChangeMedium, Image: image), State = state };

    [Fact]
    public void A_host_needs_the_base_images_and_cds_of_its_vms()
    {
        Vm[] vms = [new() { BaseImage = Base }, new() { BaseImage = "builtin-busybox.qcow2", Cdrom = Iso }];
        Assert.Multiple(
            () => Assert.True(HostImageNeeds.Needs(vms, [], Base)),
            () => Assert.True(HostImageNeeds.Needs(vms, [], Iso)),
            () => Assert.False(HostImageNeeds.Needs(vms, [], Other)),
            () => Assert.False(HostImageNeeds.Needs([], [], Base)));
    }

    [Fact]
    public void A_cd_being_put_in_is_needed_until_the_change_has_ended()
    {
        Vm[] vms = [new() { BaseImage = Base }];
        Assert.Multiple(
            () => Assert.True(HostImageNeeds.Needs(vms, [ChangeCd(Other, AgentCommandState.Pending)], Other)),
            () => Assert.True(HostImageNeeds.Needs(vms, [ChangeCd(Other, AgentCommandState.Sent)], Other)),
            () => Assert.False(HostImageNeeds.Needs(vms, [ChangeCd(Other, AgentCommandState.Failed)], Other)),
            () => Assert.False(HostImageNeeds.Needs(vms, [ChangeCd(null, AgentCommandState.Pending)], Other)));
    }
}
