using Paddock.Engine.Networks;
using Paddock.Portal.Features.Networks;

namespace Paddock.Unit.Portal.Networks;

public sealed class HostNetworksTests
{
    private static readonly Guid HostA = Guid.Parse("aaaaaaaa-0000-4000-8000-000000000000");
    private static readonly Guid HostB = Guid.Parse("bbbbbbbb-0000-4000-8000-000000000000");
    private static readonly Guid HostC = Guid.Parse("cccccccc-0000-4000-8000-000000000000");
    private static readonly NetworkSpec Lab = new(Guid.NewGuid(), 42, "10.0.0.0/24", "10.0.0.1", true);
    private static readonly NetworkSpec Other = new(Guid.NewGuid(), 7, "10.0.0.0/24", "10.0.0.1", false);
    private static readonly Dictionary<Guid, NetworkSpec> Networks = new() { [Lab.Id] = Lab, [Other.Id] = Other };

    private static readonly Dictionary<Guid, VxlanEndpoint> Endpoints = new()
    {
        [HostA] = new("192.0.2.1", VxlanEndpoint.DefaultPort),
        [HostB] = new("192.0.2.2", VxlanEndpoint.DefaultPort),
    };

    private static NetworkNic Nic(NetworkSpec network, string vm, string address, params Guid[] hosts) =>
        new(network.Id, Guid.NewGuid(), vm, $"52:54:00:00:00:{address.Split('.')[3].PadLeft(2, '0')}", address, hosts);

    [Fact]
    public void A_host_carries_the_networks_its_vms_have_nics_on_with_every_member_and_the_other_carriers_as_peers()
    {
        NetworkNic[] nics = [Nic(Lab, "web", "10.0.0.3", HostA), Nic(Lab, "db", "10.0.0.2", HostB), Nic(Other, "x", "10.0.0.2", HostC)];

        var onA = Assert.Single(HostNetworks.For(HostA, Networks, nics, Endpoints));
        Assert.Equal(Lab, onA.Network);
        Assert.Equal(["db", "web"], onA.Members.Select(m => m.Name));
        Assert.Equal(["10.0.0.2", "10.0.0.3"], onA.Members.Select(m => m.Address));
        Assert.Equal([Endpoints[HostB]], onA.Peers);

        // A host with no VM on it carries nothing; a carrier without an endpoint is no peer.
        Assert.Empty(HostNetworks.For(Guid.NewGuid(), Networks, nics, Endpoints));
        Assert.Empty(Assert.Single(HostNetworks.For(HostC, Networks, nics, Endpoints)).Peers);
    }

    [Fact]
    public void A_migrating_vm_puts_its_networks_on_both_hosts_and_lists_are_in_vni_order()
    {
        NetworkNic[] nics = [Nic(Lab, "web", "10.0.0.2", HostA, HostB), Nic(Other, "x", "10.0.0.2", HostA)];

        Assert.Equal([7, 42], HostNetworks.For(HostA, Networks, nics, Endpoints).Select(n => n.Network.Vni));
        var onB = Assert.Single(HostNetworks.For(HostB, Networks, nics, Endpoints));
        Assert.Equal([Endpoints[HostA]], onB.Peers);
    }

    [Fact]
    public void Dns_names_are_unique_in_a_network()
    {
        var first = Nic(Lab, "Web 1", "10.0.0.2", HostA);
        var clash = Nic(Lab, "web-1", "10.0.0.3", HostA);
        var sameVm = clash with { Address = "10.0.0.4", Mac = "52:54:00:00:00:04" };

        var names = HostNetworks.Members([sameVm, clash, first]).Select(m => m.Name).ToList();

        Assert.Equal(["web-1", NetworkRules.Fallback(clash.VmId), $"{NetworkRules.Fallback(clash.VmId)}-2"], names);
    }

    [Fact]
    public void A_host_carries_the_forwards_placed_on_it_and_none_on_a_network_without_nat()
    {
        NetworkNic[] nics = [Nic(Lab, "web", "10.0.0.2", HostA, HostB), Nic(Other, "x", "10.0.0.2", HostA)];
        HostForward[] forwards =
        [
            new(Lab.Id, HostA, new PortForward("tcp", 20000, "10.0.0.2", 22)),
            new(Other.Id, HostA, new PortForward("tcp", 20001, "10.0.0.2", 22)),
        ];

        var onA = HostNetworks.For(HostA, Networks, nics, Endpoints, forwards).ToDictionary(n => n.Network.Vni);
        Assert.Equal([forwards[0].Forward], onA[Lab.Vni].Forwards);
        Assert.Empty(onA[Other.Vni].Forwards);
        // The destination of a migration carries the network but not yet the forward.
        Assert.Empty(Assert.Single(HostNetworks.For(HostB, Networks, nics, Endpoints, forwards)).Forwards);
    }
}
