using Paddock.Engine.Networks;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Networks;

public sealed class ProviderNetworkTests
{
    private static readonly NetworkNames Names = new("pd");
    private static readonly VxlanEndpoint Local = new("127.0.0.1", 4789);
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: true);
    private static readonly NetworkSpec Office = Provider(0x65, "eth1", 42);
    private static readonly NetworkSpec Flat = Provider(0x66, "eth2", null);
    private static readonly Guid Vm = Guid.Parse("11111111-2222-3333-4444-555555555555");

    private static NetworkSpec Provider(int vni, string iface, int? vlan) =>
        new(Guid.NewGuid(), vni, "", "", Nat: false) { Provider = new ProviderLink(iface, vlan) };

    private static NetworkPlan Plan() => NetworkPlan.Create(Names, Local,
        [new(Lab, [new("web", "52:54:00:aa:00:05", "10.10.0.5")], []), new(Office, [], []), new(Flat, [], [])],
        [(Vm, new NicSpec("net0", "52:54:00:aa:00:05") { Network = new NicNetwork(Lab, "10.10.0.5") }),
         (Vm, new NicSpec("net1", "52:54:00:AA:00:06") { Network = new NicNetwork(Office, "") })]);

    [Theory]
    [InlineData("", "Interface")]
    [InlineData("eth1/../x", "Interface")]
    [InlineData("eth 1", "Interface")]
    [InlineData("a-sixteen-chars!", "Interface")]
    [InlineData("abcdefghijklmnop", "Interface")]
    [InlineData("-eth1", "Interface")]
    [InlineData("eth\"1", "Interface")]
    [InlineData("..", "Interface")]
    [InlineData("pdb64", "Interface")]
    public void A_host_interface_name_the_kernel_or_nft_would_misread_or_that_is_the_agents_own_is_refused(string name, string field)
    {
        var e = Assert.Throws<InvalidNetworkException>(() => NetworkLayout.Of(Provider(7, name, null), Names));

        Assert.Equal(field, e.Field);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4095)]
    [InlineData(-1)]
    public void A_vlan_outside_1_to_4094_is_refused(int vlan)
    {
        var e = Assert.Throws<InvalidNetworkException>(() => NetworkLayout.Of(Provider(7, "eth1", vlan), Names));

        Assert.Equal("Vlan", e.Field);
    }

    [Fact]
    public void A_provider_network_has_no_nat_and_a_nic_on_it_no_address()
    {
        Assert.Equal("Nat", Assert.Throws<InvalidNetworkException>(() => NetworkLayout.Of(Office with { Nat = true }, Names)).Field);
        var nic = new NicSpec("net0", "52:54:00:aa:00:07") { Network = new NicNetwork(Office, "10.10.0.7") };
        Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local, [], [(Vm, nic)]));
    }

    [Fact]
    public void A_provider_network_is_its_bridge_and_its_outside_port_and_its_nic_gets_no_reservation()
    {
        var plan = Plan();

        var office = plan.Networks.Single(n => n.Layout.Vni == 0x65);
        Assert.Equal(("pdb65", "pdv65"), (office.Layout.Bridge, office.Layout.ProviderPort));
        Assert.Equal("eth2", plan.Networks.Single(n => n.Layout.Vni == 0x66).Layout.ProviderPort);
        Assert.Empty(office.Members);
        Assert.Contains(new TapPort(Names.Tap(Vm, "net1"), 0x65, "52:54:00:aa:00:06", null), plan.Taps);
    }

    [Fact]
    public void A_provider_network_this_host_refuses_keeps_only_itself_and_its_nics_off_the_plan()
    {
        var own = Provider(0x68, "pdb64", null);
        var nic = new NicSpec("net0", "52:54:00:aa:00:08") { Network = new NicNetwork(own, "") };

        var plan = NetworkPlan.Create(Names, Local, [new(Lab, [], []), new(own, [], [])], [(Vm, nic)]);

        Assert.Equal([0x64], plan.Networks.Select(n => n.Layout.Vni));
        Assert.Empty(plan.Taps);
        Assert.Contains("'pdb64' is one of this agent's own devices", plan.Refused[0x68], StringComparison.Ordinal);
        Assert.Contains("Interface", NetworkPlan.Create(Names, Local, [], [(Vm, nic)]).Refused[0x68], StringComparison.Ordinal);
    }

    [Fact]
    public void Two_provider_networks_on_the_same_interface_and_tag_cannot_share_a_host()
    {
        var e = Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local, [new(Office, [], []), new(Provider(0x67, "eth1", 42), [], [])], []));

        Assert.Equal("Provider", e.Field);
        NetworkPlan.Create(Names, Local, [new(Office, [], []), new(Provider(0x67, "eth1", 43), [], [])], []);
    }

    [Fact]
    public void A_vlan_link_is_made_on_the_host_interface_and_enslaved_the_bare_interface_is_enslaved_itself()
    {
        var office = NetworkLayout.Of(Office, Names);
        var flat = NetworkLayout.Of(Flat, Names);

        Assert.Equal(["ip", "link", "add", "pdv65", "link", "eth1", "type", "vlan", "id", "42"], IpCommands.CreateVlan(office));
        Assert.Contains(["ip", "link", "set", "pdv65", "addrgenmode", "none"], IpCommands.ConfigureProvider(office));
        Assert.Equal(["ip", "link", "set", "pdv65", "master", "pdb65", "up"], IpCommands.ConfigureProvider(office)[^1]);
        Assert.Equal(["ip", "link", "set", "eth2", "master", "pdb66", "up"], IpCommands.ConfigureProvider(flat)[^1]);
        Assert.DoesNotContain(["ip", "link", "set", "eth2", "addrgenmode", "none"], IpCommands.ConfigureProvider(flat));
    }

    [Fact]
    public void From_a_provider_tap_only_its_mac_leaves_and_no_server_of_addresses()
    {
        var tap = Names.Tap(Vm, "net1");
        var text = Walls.BridgeTable(Plan());

        Assert.Contains(
            $"\tchain from_{tap} {{\n" +
            "\t\tether saddr != 52:54:00:aa:00:06 drop\n" +
            "\t\tarp saddr ether != 52:54:00:aa:00:06 drop\n" +
            "\t\tudp sport 67 drop\n" +
            "\t\tudp sport 547 drop\n" +
            "\t\ticmpv6 type nd-router-advert drop\n" +
            "\t\taccept\n" +
            "\t}\n", text);
        Assert.Contains($"\t\toifname \"{tap}\" ether daddr != 52:54:00:aa:00:06 ether daddr & 01:00:00:00:00:00 == 00:00:00:00:00:00 drop\n", text);
    }

    [Fact]
    public void Nothing_from_a_provider_bridge_reaches_the_host()
    {
        var plan = Plan();

        var bridge = Walls.BridgeTable(plan);
        Assert.Contains("\tchain input {\n", bridge);
        Assert.Contains("\t\tiifname \"pdv*\" drop\n", bridge);
        Assert.Contains("\t\tiifname \"eth2\" drop\n", bridge);
        Assert.Contains("\t\tiifname \"pdb*\" drop\n", Walls.HostTable(plan, []));
        Assert.Contains("\t\tiifname \"pdv*\" drop\n", Walls.HostTable(plan, []));
        // The gateway's ARP guard is a tenant network's: a provider network has no gateway of ours.
        Assert.DoesNotContain("0.0.0.0 drop", bridge);
    }

    [Fact]
    public void The_addresses_of_an_interface_are_all_but_ipv6_link_local()
    {
        const string json = """
            [{"ifname":"eth1","addr_info":[
              {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},
              {"family":"inet","local":"192.168.1.5","prefixlen":24,"scope":"global"},
              {"family":"inet6","local":"2001:db8::5","prefixlen":64,"scope":"global"}]}]
            """;

        Assert.Equal(["192.168.1.5/24", "2001:db8::5/64"], LinkInventory.ParseAddresses(json));
        Assert.Empty(LinkInventory.ParseAddresses("""[{"ifname":"eth1","addr_info":[]}]"""));
    }
}
