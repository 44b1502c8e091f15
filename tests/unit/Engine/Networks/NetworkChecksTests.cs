using Paddock.Engine.Networks;

namespace Paddock.Unit.Engine.Networks;

public sealed class NetworkChecksTests
{
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: false);

    [Theory]
    [InlineData("10.10.0.0/24", 0x0A0A0000u, 24)]
    [InlineData("192.168.8.0/22", 0xC0A80800u, 22)]
    public void A_cidr_is_read_strictly(string text, uint network, int length) =>
        Assert.Equal(new Ipv4Cidr(network, length), Ipv4Cidr.Parse(text, "Cidr"));

    [Theory]
    [InlineData("10.10.0.1/24")] // host bits
    [InlineData("10.10.0.0/31")]
    [InlineData("10.10.0.0/4")]
    [InlineData("10.010.0.0/24")] // octal to some tools
    [InlineData("10.10.0/24")]
    [InlineData("10.10.0.0/24\n")]
    [InlineData("10.10.0.0/24; rm -rf /")]
    [InlineData("256.0.0.0/8")]
    [InlineData("")]
    [InlineData(null)]
    public void A_malformed_cidr_is_refused_naming_the_field(string? text) =>
        Assert.Equal("Cidr", Assert.Throws<InvalidNetworkException>(() => Ipv4Cidr.Parse(text, "Cidr")).Field);

    [Theory]
    [InlineData("10.10.0.0", "Gateway")] // the network's own address
    [InlineData("10.10.0.255", "Gateway")] // its broadcast
    [InlineData("10.10.1.1", "Gateway")] // outside
    [InlineData("10.10.0.1 ", "Gateway")]
    public void A_gateway_must_be_a_host_address_of_the_network(string gateway, string field) =>
        Assert.Equal(field, Assert.Throws<InvalidNetworkException>(() => NetworkChecks.Check(Lab with { Gateway = gateway })).Field);

    [Theory]
    [InlineData(0)]
    [InlineData(0x1000000)]
    [InlineData(-1)]
    public void A_vni_outside_24_bits_is_refused(int vni) =>
        Assert.Equal("Vni", Assert.Throws<InvalidNetworkException>(() => NetworkChecks.Check(Lab with { Vni = vni })).Field);

    [Theory]
    [InlineData("web-1", "52:54:00:12:34:56", "10.10.0.1", "m.Address")] // the gateway
    [InlineData("web-1", "52:54:00:12:34:56", "10.10.1.5", "m.Address")]
    [InlineData("web_1", "52:54:00:12:34:56", "10.10.0.5", "m.Name")]
    [InlineData("-web", "52:54:00:12:34:56", "10.10.0.5", "m.Name")]
    [InlineData("web\nhost", "52:54:00:12:34:56", "10.10.0.5", "m.Name")]
    [InlineData("web-1", "01:00:5e:00:00:01", "10.10.0.5", "m.Mac")] // multicast
    [InlineData("web-1", "00:00:00:00:00:00", "10.10.0.5", "m.Mac")]
    [InlineData("web-1", "52:54:00:12:34:56,10.10.0.9", "10.10.0.5", "m.Mac")] // a second dhcp-host field
    public void A_hostile_member_is_refused_naming_what(string name, string mac, string address, string field)
    {
        var (cidr, gateway) = NetworkChecks.Check(Lab);
        var refused = Assert.Throws<InvalidNetworkException>(() => NetworkChecks.Check(new NetworkMember(name, mac, address), cidr, gateway, "m"));
        Assert.Equal(field, refused.Field);
    }

    [Fact]
    public void A_well_formed_member_passes()
    {
        var (cidr, gateway) = NetworkChecks.Check(Lab);
        NetworkChecks.Check(new NetworkMember("web-1", "52:54:00:12:34:56", "10.10.0.5"), cidr, gateway, "m");
    }

    [Theory]
    [InlineData("127.0.0.1", 0)]
    [InlineData("127.0.0.1", 70000)]
    [InlineData("localhost", 4789)]
    public void A_malformed_vxlan_endpoint_is_refused(string address, int port) =>
        Assert.Throws<InvalidNetworkException>(() => NetworkChecks.Check(new VxlanEndpoint(address, port), "Peer"));
}
