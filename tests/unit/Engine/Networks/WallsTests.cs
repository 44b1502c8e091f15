using Paddock.Engine.Networks;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Networks;

public sealed class WallsTests
{
    private static readonly NetworkNames Names = new("pd");
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: true);
    private static readonly Guid Vm = Guid.Parse("11111111-2222-3333-4444-555555555555");

    private static NetworkPlan Plan() => NetworkPlan.Create(Names, new("127.0.0.1", 4789),
        [new(Lab, [new("web", "52:54:00:aa:00:05", "10.10.0.5")], [new("127.0.0.1", 4790)])],
        [(Vm, new NicSpec("net0", "52:54:00:aa:00:05") { Network = new NicNetwork(Lab, "10.10.0.5") })]);

    [Fact]
    public void The_bridge_table_is_replaced_whole_in_one_transaction()
    {
        var text = Walls.BridgeTable(Plan());

        Assert.StartsWith("table bridge pd_walls\ndelete table bridge pd_walls\ntable bridge pd_walls {\n", text);
    }

    [Fact]
    public void From_a_tap_only_its_mac_and_its_address_leave_and_no_dhcp_answer()
    {
        var tap = Names.Tap(Vm, "net0");
        var text = Walls.BridgeTable(Plan());

        Assert.Contains($"\t\tiifname \"{tap}\" jump from_{tap}\n", text);
        Assert.Contains(
            $"\tchain from_{tap} {{\n" +
            "\t\tether saddr != 52:54:00:aa:00:05 drop\n" +
            "\t\tether type arp arp saddr ether 52:54:00:aa:00:05 arp saddr ip 10.10.0.5 accept\n" +
            "\t\tudp sport 67 drop\n" +
            "\t\tip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept\n" +
            "\t\tether type ip ip saddr 10.10.0.5 accept\n" +
            "\t\tdrop\n" +
            "\t}\n", text);
        // A tap of this agent's that no NIC claims gets nothing through.
        Assert.Contains("\tchain from_tap {\n" + $"\t\tiifname \"{tap}\" jump from_{tap}\n" + "\t\tdrop\n\t}\n", text);
    }

    [Fact]
    public void The_gateway_stays_on_its_host_and_nothing_reaches_the_host_from_a_port()
    {
        var text = Walls.BridgeTable(Plan());

        Assert.Contains("\t\tiifname \"pdg*\" oifname \"pdx*\" drop\n", text);
        Assert.Contains("\t\tiifname \"pdx*\" oifname \"pdg*\" drop\n", text);
        Assert.Contains("\t\tudp dport { 67, 68 } drop\n", text);
        Assert.Contains("\t\toifname \"pdx64\" arp daddr ip 10.10.0.1 drop\n", text);
        Assert.Contains("\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tiifname \"pdt*\" drop\n", text);
    }

    [Fact]
    public void The_host_table_drops_guests_at_input_and_forwards_transit_only_out_of_the_uplink()
    {
        var text = Walls.HostTable(Plan(), ["eth0"]);

        Assert.StartsWith("table inet pd_host\ndelete table inet pd_host\n", text);
        Assert.Contains("\t\tiifname \"pdb*\" notrack\n", text);
        foreach (var kind in "bgntx")
            Assert.Contains($"\t\tiifname \"pd{kind}*\" drop\n", text);
        Assert.Contains("\t\tiifname \"pdn*\" oifname { \"eth0\" } accept\n\t\tiifname \"pdn*\" drop\n", text);
        Assert.Contains("\t\toifname \"pdn*\" ct state established,related accept\n\t\toifname \"pdn*\" drop\n", text);
        Assert.Contains("\t\tiifname \"pdn*\" oifname { \"eth0\" } masquerade\n", text);
    }

    [Fact]
    public void An_uplink_name_that_is_no_interface_name_is_refused() =>
        Assert.Throws<InvalidNetworkException>(() => Walls.HostTable(Plan(), ["eth0\" accept; #"]));

    [Fact]
    public void A_namespace_serves_dhcp_dns_and_ping_and_routes_out_only_with_nat()
    {
        var nat = Walls.NamespaceTable(NetworkLayout.Of(Lab, Names));
        var closed = Walls.NamespaceTable(NetworkLayout.Of(Lab with { Nat = false }, Names));

        Assert.Contains("\t\ttype filter hook input priority filter; policy drop;\n", closed);
        Assert.Contains("\t\tiifname \"gw0\" udp dport 67 accept\n", closed);
        Assert.Contains("\t\tiifname \"gw0\" meta l4proto { tcp, udp } th dport 53 accept\n", closed);
        Assert.DoesNotContain("masquerade", closed);
        Assert.DoesNotContain("oifname \"up0\"", closed);
        Assert.Contains("\t\tiifname \"gw0\" oifname \"up0\" accept\n", nat);
        Assert.Contains("\t\toifname \"up0\" masquerade\n", nat);
    }

    [Fact]
    public void With_no_network_left_both_root_tables_go() =>
        Assert.Equal("table bridge pd_walls\ndelete table bridge pd_walls\ntable inet pd_host\ndelete table inet pd_host\n", Walls.Remove(Names));
}
