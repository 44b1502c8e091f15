using Paddock.Engine.Contract;
using Paddock.Engine.Networks;
using Paddock.Portal.Features.Networks;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms;

public sealed class SshRoutesTests
{
    private static readonly NetworkSpec Tenant = new(Guid.NewGuid(), 4100, "10.7.0.0/24", "10.7.0.1", Nat: true);

    private static VmNic OnTenant(NetworkSpec? network = null) => new("net0", "52:54:00:aa:bb:01", new NicNetwork(network ?? Tenant, "10.7.0.5"));

    [Fact]
    public void A_forward_of_port_22_gives_the_command_through_the_host()
    {
        var forwards = new[] { new ForwardView(Guid.NewGuid(), "net0", "tcp", 22, 20022, "192.0.2.10:20022") };
        var route = SshRoutes.Of(OnTenant(), ["10.7.0.5/24"], forwards, "alice");
        Assert.Equal("ssh -p 20022 alice@192.0.2.10", route.Command);
        Assert.Contains("port forward", route.Where, StringComparison.Ordinal);
    }

    [Fact]
    public void A_forward_of_another_port_protocol_or_nic_is_not_the_way_in()
    {
        var forwards = new[]
        {
            new ForwardView(Guid.NewGuid(), "net0", "udp", 22, 20022, "192.0.2.10:20022"),
            new ForwardView(Guid.NewGuid(), "net0", "tcp", 80, 20080, "192.0.2.10:20080"),
            new ForwardView(Guid.NewGuid(), "net1", "tcp", 22, 20023, "192.0.2.10:20023"),
        };
        var route = SshRoutes.Of(OnTenant(), ["10.7.0.5/24"], forwards, "alice");
        Assert.Equal("ssh alice@10.7.0.5", route.Command);
        Assert.Contains("add a port forward of port 22", route.Where, StringComparison.Ordinal);
    }

    [Fact]
    public void A_provider_network_is_reached_at_the_guests_own_ipv4_address_not_a_link_local_one()
    {
        var provider = new NetworkSpec(Guid.NewGuid(), 4101, "", "", false) { Provider = new ProviderLink("eth1", null) };
        var route = SshRoutes.Of(OnTenant(provider), ["fe80::1/64", "169.254.3.4/16", "2001:db8::5/64", "198.51.100.7/24"], [], null);
        Assert.Equal("ssh 198.51.100.7", route.Command);
        Assert.Contains("provider network", route.Where, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_nat_only_the_networks_vms_reach_it_and_without_an_address_there_is_no_command()
    {
        var closed = Tenant with { Nat = false };
        Assert.Contains("NAT is off", SshRoutes.Of(OnTenant(closed), ["10.7.0.5/24"], [], "bob").Where, StringComparison.Ordinal);
        var unnamed = new VmNic("net0", "52:54:00:aa:bb:01", new NicNetwork(Tenant, ""));
        Assert.Null(SshRoutes.Of(unnamed, [], [], "bob").Command);
        Assert.Null(SshRoutes.Of(new VmNic("net0", "52:54:00:aa:bb:01"), ["10.7.0.5/24"], [], "bob").Command);
    }

    [Fact]
    public void A_guest_nic_is_matched_to_the_vms_by_mac_whatever_its_case_and_the_loopback_is_none()
    {
        var vm = new Vm { Mac = "52:54:00:AA:BB:01", Network = new NicNetwork(Tenant, "10.7.0.5") };
        Assert.Equal("ssh 10.7.0.5", SshRoutes.Of(vm, new GuestNic("eth0", "52:54:00:aa:bb:01", ["10.7.0.5/24"]), [])?.Command);
        Assert.Null(SshRoutes.Of(vm, new GuestNic("lo", "00:00:00:00:00:00", ["127.0.0.1/8"]), []));
    }
}
