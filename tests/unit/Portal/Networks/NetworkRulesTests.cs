using Paddock.Portal.Features.Networks;

namespace Paddock.Unit.Portal.Networks;

public sealed class NetworkRulesTests
{
    private static readonly IReadOnlyList<ReservedRange> Reserved = NetworkRules.Reserved(["192.168.1.0/24"], ["203.0.113.7"]);

    private static string? Problem(string cidr, params (string Name, string Cidr)[] others) => NetworkRules.CidrProblem(cidr, Reserved, others);

    [Theory]
    [InlineData("10.10.0.0/24")]
    [InlineData("172.16.0.0/16")]
    [InlineData("192.168.2.0/29")]
    [InlineData(" 10.1.2.0/23 ")]
    public void A_network_address_with_a_prefix_from_16_to_29_is_taken(string cidr) => Assert.Null(Problem(cidr));

    [Theory]
    [InlineData("", "an IPv4 network")]
    [InlineData("10.0.0.0", "an IPv4 network")]
    [InlineData("10.0.0/24", "an IPv4 network")]
    [InlineData("10.0.0.256/24", "an IPv4 network")]
    [InlineData("010.0.0.0/24", "an IPv4 network")]
    [InlineData("10.0.0.0/-1", "an IPv4 network")]
    [InlineData("10.0.0.0/33", "an IPv4 network")]
    [InlineData("fd00::/64", "an IPv4 network")]
    [InlineData("10.0.0.0/8", "/16 to /29; /8 is not")]
    [InlineData("10.0.0.0/30", "/16 to /29; /30 is not")]
    [InlineData("10.0.0.5/24", "not a network address (its host part is not zero); did you mean 10.0.0.0/24?")]
    [InlineData("127.0.0.0/16", "overlaps 127.0.0.0/8 (loopback)")]
    [InlineData("169.254.0.0/16", "overlaps 169.254.0.0/16 (link-local)")]
    [InlineData("0.0.0.0/16", "overlaps 0.0.0.0/8 (this network)")]
    [InlineData("224.0.0.0/24", "multicast")]
    [InlineData("250.0.0.0/24", "multicast and reserved")]
    [InlineData("192.168.0.0/16", "overlaps 192.168.1.0/24 (the hosts' networks)")]
    [InlineData("203.0.113.0/24", "overlaps 203.0.113.7 (a host's address)")]
    public void A_bad_cidr_is_refused_with_the_reason(string cidr, string reason) =>
        Assert.Contains(reason, Problem(cidr) ?? "(taken)", StringComparison.Ordinal);

    [Fact]
    public void A_cidr_that_overlaps_one_of_the_owners_networks_names_it()
    {
        Assert.Equal("CIDR: 10.0.0.0/16 overlaps your network 'lab' (10.0.5.0/24).", Problem("10.0.0.0/16", ("lab", "10.0.5.0/24")));
        Assert.Equal("CIDR: 10.0.5.128/25 overlaps your network 'wide' (10.0.0.0/16).", Problem("10.0.5.128/25", ("wide", "10.0.0.0/16")));
        Assert.Null(Problem("10.0.6.0/24", ("lab", "10.0.5.0/24")));
    }

    [Fact]
    public void Addresses_skip_the_network_gateway_and_broadcast_and_the_ones_taken()
    {
        Assert.Equal("10.0.0.2", NetworkRules.FreeAddress("10.0.0.0/24", []));
        Assert.Equal("10.0.0.4", NetworkRules.FreeAddress("10.0.0.0/24", ["10.0.0.2", "10.0.0.3", "10.0.0.5"]));
        // A /29 has 8 addresses: network .0, gateway .1, broadcast .7, so .2 to .6 for NICs.
        Assert.Equal("10.0.0.6", NetworkRules.FreeAddress("10.0.0.0/29", ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]));
        Assert.Null(NetworkRules.FreeAddress("10.0.0.0/29", ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]));
        Assert.Equal(5, Ipv4Cidr.Parse("10.0.0.0/29")!.Value.Usable);
        Assert.Equal("10.0.1.1", Ipv4Cidr.Format(Ipv4Cidr.Parse("10.0.1.0/24")!.Value.Gateway));
    }

    [Fact]
    public void A_default_network_takes_the_first_slash_16_of_ten_that_overlaps_nothing()
    {
        Assert.Equal("10.0.0.0/16", NetworkRules.DefaultCidrFor(Reserved, []));
        Assert.Equal("10.2.0.0/16", NetworkRules.DefaultCidrFor(Reserved, [("lab", "10.0.0.0/15")]));
        Assert.Equal("10.1.0.0/16", NetworkRules.DefaultCidrFor(NetworkRules.Reserved(["10.0.0.0/24"], []), []));
        Assert.Equal(65533, Ipv4Cidr.Parse("10.0.0.0/16")!.Value.Usable);
    }

    [Theory]
    [InlineData("web-1", "web-1")]
    [InlineData("Web Server 1", "web-server-1")]
    [InlineData("--db..primary__", "db-primary")]
    [InlineData("Ünïcode box", "n-code-box")]
    [InlineData("1st", "1st")]
    [InlineData("***", "vm-0a1b2c3d")]
    [InlineData("", "vm-0a1b2c3d")]
    public void A_vm_name_becomes_a_dns_label(string name, string label) =>
        Assert.Equal(label, NetworkRules.DnsLabel(name, Guid.Parse("0a1b2c3d-0000-4000-8000-000000000000")));

    [Fact]
    public void A_long_name_is_cut_to_63_characters_without_a_trailing_hyphen()
    {
        var label = NetworkRules.DnsLabel(new string('a', 62) + "-b" + new string('c', 10), Guid.NewGuid());
        Assert.Equal(new string('a', 62), label);
    }
}
