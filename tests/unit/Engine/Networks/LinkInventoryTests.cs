using Paddock.Engine.Networks;

namespace Paddock.Unit.Engine.Networks;

public sealed class LinkInventoryTests
{
    [Fact]
    public void Links_peers_and_uplinks_are_read_from_ip_json()
    {
        const string links = """[{"ifname":"lo"},{"ifname":"pdb64","linkinfo":{"info_kind":"bridge"}},{"ifname":"pdt0a1b2c3d","master":"pdb64","linkinfo":{"info_kind":"tun"}}]""";
        const string fdb = """[{"mac":"00:00:00:00:00:00","dst":"127.0.0.1","port":4800,"state":"permanent"},{"mac":"52:54:00:00:00:01","dst":"127.0.0.1"},{"mac":"00:00:00:00:00:00","dst":"10.0.0.2"}]""";
        const string routes = """[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]""";

        Assert.Equal([new Link("lo", null, null), new Link("pdb64", "bridge", null), new Link("pdt0a1b2c3d", "tun", "pdb64")], LinkInventory.ParseLinks(links));
        Assert.Equal([new VxlanEndpoint("127.0.0.1", 4800), new VxlanEndpoint("10.0.0.2", 4789)], LinkInventory.ParsePeers(fdb, 4789));
        Assert.Equal(["eth0"], LinkInventory.ParseUplinks(routes));
        Assert.Empty(LinkInventory.ParseLinks(""));
    }
}
