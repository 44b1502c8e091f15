using Paddock.Engine.Networks;
using Paddock.Engine.Vms;

namespace Paddock.Unit.Engine.Networks;

public sealed class PortForwardTests
{
    private static readonly NetworkNames Names = new("pd");
    private static readonly VxlanEndpoint Local = new("127.0.0.1", 4789);
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: true);
    private static readonly NetworkMember Web = new("web", "52:54:00:aa:00:05", "10.10.0.5");
    private static readonly PortForward Ssh = new("tcp", 20022, "10.10.0.5", 22);

    private static NetworkPlan Plan(NetworkSpec network, params PortForward[] forwards) =>
        NetworkPlan.Create(Names, Local, [new(network, [Web], []) { Forwards = forwards }], []);

    [Fact]
    public void A_forward_to_a_member_of_a_nat_network_is_planned() =>
        Assert.Equal([Ssh], Assert.Single(Plan(Lab, Ssh).Networks).Forwards);

    [Fact]
    public void A_network_without_nat_gets_no_forward()
    {
        var refused = Assert.Throws<InvalidNetworkException>(() => Plan(Lab with { Nat = false }, Ssh));

        Assert.Contains("has no NAT", refused.Message);
    }

    [Theory]
    [InlineData("icmp", 20022, "10.10.0.5", 22, "Protocol")]
    [InlineData("tcp; drop", 20022, "10.10.0.5", 22, "Protocol")]
    [InlineData("tcp", 0, "10.10.0.5", 22, "HostPort")]
    [InlineData("tcp", 65536, "10.10.0.5", 22, "HostPort")]
    [InlineData("udp", 20022, "10.10.0.5", 0, "GuestPort")]
    [InlineData("tcp", 20022, "10.10.0.6", 22, "Address")]
    [InlineData("tcp", 20022, "10.10.0.1", 22, "Address")]
    [InlineData("tcp", 20022, "10.20.0.5", 22, "Address")]
    [InlineData("tcp", 20022, "10.10.0.5 accept", 22, "Address")]
    public void A_malformed_forward_is_refused_naming_its_field(string protocol, int hostPort, string address, int guestPort, string field)
    {
        var refused = Assert.Throws<InvalidNetworkException>(() => Plan(Lab, new PortForward(protocol, hostPort, address, guestPort)));

        Assert.EndsWith($".{field}", refused.Field);
    }

    [Fact]
    public void One_host_port_is_forwarded_once_per_protocol_across_networks()
    {
        var other = new NetworkSpec(Guid.NewGuid(), 0x65, "10.20.0.0/24", "10.20.0.1", Nat: true);
        var refused = Assert.Throws<InvalidNetworkException>(() => NetworkPlan.Create(Names, Local,
            [new(Lab, [Web], []) { Forwards = [Ssh] }, new(other, [Web with { Address = "10.20.0.5" }], []) { Forwards = [Ssh with { Address = "10.20.0.5" }] }], []));

        Assert.EndsWith(".HostPort", refused.Field);
        Assert.Equal(2, Assert.Single(Plan(Lab, Ssh, Ssh with { Protocol = "udp" }).Networks).Forwards.Count);
    }

    [Fact]
    public void The_host_dnats_its_port_to_the_namespace_from_outside_and_from_itself_and_lets_only_that_into_a_transit_link()
    {
        var text = Walls.HostTable(Plan(Lab, Ssh), ["eth0"]);

        Assert.Contains("\tchain forwards_in {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tfib daddr type local jump forwards\n\t}\n", text);
        Assert.Contains("\tchain forwards_out {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tfib daddr type local jump forwards\n\t}\n", text);
        Assert.Contains("\tchain forwards {\n\t\ttcp dport 20022 dnat ip to 100.64.1.146:20022\n\t}\n", text);
        Assert.Contains("\t\tiifname != \"pdn*\" oifname \"pdn*\" ct status dnat accept\n", text);
        Assert.Contains("\t\tiifname \"pdn*\" oifname != \"pdn*\" ct status dnat ct state established accept\n", text);
        Assert.Contains("\t\toifname \"pdn64\" ip saddr 127.0.0.0/8 snat ip to 100.64.1.145\n", text);
        // Nothing new from a transit link reaches the host: only the replies to its own clients.
        Assert.Contains("\t\tiifname \"pdn*\" ct status dnat ct state established accept\n\t\tiifname \"pdb*\" drop\n", text);
        Assert.Contains("\t\tiifname \"pdn*\" drop\n", text);
    }

    [Fact]
    public void Without_forwards_the_host_table_has_no_nat_chain_and_no_way_in()
    {
        var text = Walls.HostTable(Plan(Lab), ["eth0"]);

        Assert.DoesNotContain("dnat", text);
        Assert.DoesNotContain("snat", text);
    }

    [Fact]
    public void The_namespace_dnats_the_host_port_to_the_guest_and_lets_it_in()
    {
        var layout = NetworkLayout.Of(Lab, Names);
        var text = Walls.NamespaceTable(layout, [Ssh]);

        Assert.Contains("\tchain forwards {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" +
            "\t\tiifname \"up0\" ip daddr 100.64.1.146 tcp dport 20022 dnat ip to 10.10.0.5:22\n\t}\n", text);
        Assert.Contains("\t\tiifname \"up0\" oifname \"gw0\" ct status dnat accept\n", text);
        Assert.DoesNotContain("dnat", Walls.NamespaceTable(layout));
    }

    [Fact]
    public void The_transit_link_routes_loopback_clients_of_a_forward() =>
        Assert.Contains(IpCommands.ConfigureTransit(NetworkLayout.Of(Lab, Names)),
            c => c.SequenceEqual(["sysctl", "-qw", "net.ipv4.conf.pdn64.route_localnet=1"]));
}
