using Paddock.Engine.Networks;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Networks;

public sealed class NetworkPlanTests
{
    private static readonly NetworkNames Names = new("pd");
    private static readonly VxlanEndpoint Local = new("127.0.0.1", 4789);
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: true);

    [Fact]
    public void A_network_a_nic_here_uses_stays_though_the_list_omits_it_and_its_nic_gets_a_reservation()
    {
        var vm = Guid.NewGuid();
        var nic = new NicSpec("net0", "52:54:00:AA:00:05") { Network = new NicNetwork(Lab, "10.10.0.5") };

        var plan = NetworkPlan.Create(Names, Local, [], [(vm, nic)]);

        var network = Assert.Single(plan.Networks);
        Assert.Equal(0x64, network.Layout.Vni);
        Assert.Equal(new NetworkMember("", "52:54:00:AA:00:05", "10.10.0.5"), Assert.Single(network.Members));
        Assert.Equal(new TapPort(Names.Tap(vm, "net0"), 0x64, "52:54:00:aa:00:05", 0x0A0A0005), Assert.Single(plan.Taps));
    }

    [Fact]
    public void This_host_is_not_its_own_peer()
    {
        var plan = NetworkPlan.Create(Names, Local, [new(Lab, [], [Local, new("10.0.0.2", 4789)])], []);

        Assert.Equal([new VxlanEndpoint("10.0.0.2", 4789)], Assert.Single(plan.Networks).Peers);
    }

    [Fact]
    public void Two_networks_whose_transit_links_would_clash_are_refused()
    {
        var other = Lab with { Id = Guid.NewGuid(), Vni = 0x64 + (1 << 20), Cidr = "10.20.0.0/24", Gateway = "10.20.0.1" };

        var refused = Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local, [new(Lab, [], []), new(other, [], [])], []));

        Assert.Contains("transit", refused.Message);
    }

    [Fact]
    public void A_network_listed_twice_or_members_sharing_an_address_are_refused()
    {
        Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local, [new(Lab, [], []), new(Lab, [], [])], []));
        Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local,
            [new(Lab, [new("a", "52:54:00:00:00:01", "10.10.0.5"), new("b", "52:54:00:00:00:02", "10.10.0.5")], [])], []));
    }

    [Fact]
    public void A_nic_outside_its_network_is_refused()
    {
        var nic = new NicSpec("net0", "52:54:00:aa:00:05") { Network = new NicNetwork(Lab, "10.99.0.5") };

        Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local, [], [(Guid.NewGuid(), nic)]));
    }

    [Fact]
    public void The_transit_link_and_anycast_gateway_mac_follow_the_vni()
    {
        var layout = NetworkLayout.Of(Lab, Names);

        Assert.Equal(("100.64.1.146/30", "100.64.1.146", "100.64.1.145"), (layout.TransitInside, layout.TransitNamespaceAddress, layout.TransitRouter));
        Assert.Equal(("02:01:00:00:64:01", "02:01:00:00:64:02", "02:00:00:00:64:01"), (layout.TransitOutsideMac, layout.TransitInsideMac, layout.GatewayMac));
        Assert.Equal("02:00:00:00:64:01", layout.GatewayMac);
        Assert.Equal("10.10.0.1/24", layout.GatewayWithPrefix);
    }

    [Fact]
    public void A_nat_network_inside_the_transit_space_is_refused() =>
        Assert.Throws<InvalidNetworkException>(() => NetworkLayout.Of(Lab with { Cidr = "100.64.0.0/16", Gateway = "100.64.0.1" }, Names));
}
