using Paddock.Engine.Networks;

namespace Paddock.Unit.Engine.Networks;

public sealed class IpCommandsTests
{
    private static readonly NetworkLayout Lab = NetworkLayout.Of(new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: true), new NetworkNames("pd"));

    [Fact]
    public void The_gateway_veth_is_made_straight_into_the_namespace() =>
        Assert.Equal(["ip", "link", "add", "pdg64", "type", "veth", "peer", "name", "gw0", "netns", "pds64"], IpCommands.CreateGatewayLink(Lab));

    [Fact]
    public void The_vxlan_has_the_vni_this_hosts_endpoint_and_no_learning() =>
        Assert.Equal(["ip", "link", "add", "pdx64", "type", "vxlan", "id", "100", "local", "127.0.0.1", "dstport", "4790", "nolearning"],
            IpCommands.CreateVxlan(Lab, new("127.0.0.1", 4790)));

    [Fact]
    public void A_peer_is_an_all_zero_fdb_entry_with_its_port() =>
        Assert.Equal(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "pdx64", "dst", "10.0.0.2", "port", "4791"],
            IpCommands.AddPeer(Lab, new("10.0.0.2", 4791)));

    [Fact]
    public void Configuring_is_idempotent_and_gives_the_bridge_no_address()
    {
        var commands = IpCommands.ConfigureGateway(Lab).Concat(IpCommands.ConfigureTransit(Lab)).ToList();

        Assert.All(commands.Where(c => c.Contains("addr") && !c.Contains("flush")), c => Assert.Contains("replace", c));
        Assert.Contains(commands, c => c.SequenceEqual(["ip", "-n", "pds64", "addr", "replace", "10.10.0.1/24", "dev", "gw0"]));
        Assert.Contains(commands, c => c.SequenceEqual(["ip", "-n", "pds64", "route", "replace", "default", "via", "100.64.1.145", "dev", "up0", "onlink"]));
    }

    [Fact]
    public void No_link_in_the_root_namespace_gets_an_address_and_each_makes_no_link_local_before_it_comes_up()
    {
        var commands = IpCommands.ConfigureGateway(Lab).Concat(IpCommands.ConfigureTransit(Lab)).Concat(IpCommands.ConfigureVxlan(Lab))
            .Concat(IpCommands.AttachTap("pdt0001", Lab)).ToList();

        // Addresses only inside the namespace ("ip -n"); the root's transit end is flushed of any.
        Assert.DoesNotContain(commands, c => c[0] == "ip" && c[1] == "addr" && c[2] != "flush");
        foreach (var link in new[] { "pdb64", "pdg64", "pdn64", "pdx64", "pdt0001" })
        {
            var quiet = commands.FindIndex(c => c.SequenceEqual(IpCommands.NoAddresses(link)));
            var up = commands.FindIndex(c => c[0] == "ip" && c[1] == "link" && c.Contains(link) && c[^1] == "up");
            Assert.True(quiet >= 0 && quiet < up, $"{link}: addrgenmode none before it comes up");
        }
    }

    [Theory]
    [InlineData("-all")]
    [InlineData("eth0 up")]
    [InlineData("averyveryverylongname")]
    [InlineData("")]
    public void A_name_read_back_from_the_kernel_must_be_a_plain_interface_name(string name) =>
        Assert.Throws<InvalidNetworkException>(() => IpCommands.DeleteLink(name));
}
