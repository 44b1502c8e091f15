using Paddock.Engine.Networks;

namespace Paddock.Unit.Engine.Networks;

public sealed class DnsmasqTests
{
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 0x64, "10.10.0.0/24", "10.10.0.1", Nat: false);
    private static readonly DnsmasqFiles Files = new("/var/lib/paddock/x/networks/pds64");

    [Fact]
    public void Static_reservations_only_bound_to_the_gateway_and_no_host_files()
    {
        var config = Dnsmasq.Config(NetworkLayout.Of(Lab, new NetworkNames("pd")), Files);

        Assert.Equal(
            "interface=gw0\nbind-interfaces\nexcept-interface=lo\nno-hosts\naddn-hosts=/var/lib/paddock/x/networks/pds64/hosts\n" +
            "no-resolv\ndomain-needed\nbogus-priv\ndhcp-authoritative\ndhcp-range=10.10.0.0,static,255.255.255.0,1h\n" +
            "dhcp-ignore=tag:!known\ndhcp-hostsfile=/var/lib/paddock/x/networks/pds64/dhcp-hosts\n" +
            "dhcp-option=option:dns-server,10.10.0.1\ndhcp-option=option:router\nleasefile-ro\n" +
            "pid-file=/var/lib/paddock/x/networks/pds64/dnsmasq.pid\nuser=nobody\ngroup=nogroup\n", config);
    }

    [Fact]
    public void With_nat_the_gateway_is_the_router_and_resolv_conf_is_read()
    {
        var config = Dnsmasq.Config(NetworkLayout.Of(Lab with { Nat = true }, new NetworkNames("pd")), Files);

        Assert.Contains("dhcp-option=option:router,10.10.0.1\n", config);
        Assert.DoesNotContain("no-resolv", config);
    }

    [Fact]
    public void Members_become_reservations_and_names()
    {
        NetworkMember[] members = [new("Web", "52:54:00:AA:00:05", "10.10.0.5"), new("", "52:54:00:aa:00:06", "10.10.0.6")];

        Assert.Equal("52:54:00:aa:00:05,10.10.0.5,web\n52:54:00:aa:00:06,10.10.0.6\n", Dnsmasq.DhcpHosts(members));
        Assert.Equal("10.10.0.5 web\n", Dnsmasq.Names(members));
    }

    [Fact]
    public void It_starts_in_the_networks_namespace_from_an_argv() =>
        Assert.Equal(["ip", "netns", "exec", "pds64", "dnsmasq", "--conf-file=/var/lib/paddock/x/networks/pds64/dnsmasq.conf"],
            Dnsmasq.Start(NetworkLayout.Of(Lab, new NetworkNames("pd")), Files));
}
