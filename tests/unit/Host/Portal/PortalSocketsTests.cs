using Microsoft.Extensions.Options;
using Paddock.Host;
using Paddock.Host.Portal;

namespace Paddock.Unit.Host.Portal;

public sealed class PortalSocketsTests
{
    private static PortalSockets Sockets(params string[] addresses) =>
        new(Options.Create(new AgentOptions { PortalUrl = "https://front.example:8443", PortalAddresses = addresses }), null!, null!);

    [Fact]
    public void The_agent_dials_its_own_portal_when_no_address_is_named_or_the_named_one_is_its_own()
    {
        Assert.True(Sockets().MayDial(null));
        Assert.True(Sockets().MayDial("https://FRONT.example:8443/some/path"));
    }

    [Fact]
    public void A_named_portal_is_dialled_only_when_the_agents_settings_list_it()
    {
        var sockets = Sockets("https://portal-1.example:8443", "https://portal-2.example:8443/");
        Assert.True(sockets.MayDial("https://portal-2.example:8443"));
        Assert.True(sockets.MayDial("https://Portal-1.example:8443/"));
        Assert.False(sockets.MayDial("https://portal-3.example:8443"));
        Assert.False(sockets.MayDial("https://portal-1.example:9443"));
        Assert.False(sockets.MayDial("http://portal-1.example:8443"));
        Assert.False(sockets.MayDial("https://portal-1.example:8443@evil.example"));
        Assert.False(sockets.MayDial("file:///run/portal.sock"));
        Assert.False(sockets.MayDial("not an address"));
    }
}
