using Paddock.Engine.Networks;
using Paddock.Portal.Features.Networks;

namespace Paddock.Unit.Portal.Networks;

public sealed class ProviderNetworksTests
{
    private static readonly Guid Admin = Guid.NewGuid(), Member = Guid.NewGuid(), Team = Guid.NewGuid(), OtherTeam = Guid.NewGuid();

    private static TenantNetwork Outside(ProviderOffer offer) => new()
    {
        Id = Guid.NewGuid(), OwnerId = Admin, Name = "outside", Vni = 9, Provider = new ProviderLink("eth1", 42), Offer = offer,
    };

    [Fact]
    public void A_provider_network_is_seen_and_used_by_those_it_is_offered_to_and_changed_by_admins_only()
    {
        var forTeam = Outside(new ProviderOffer(false, [Team]));

        Assert.Equal(NetworkRole.GroupMember, NetworkRights.RoleOf(forTeam, Member, admin: false, [Team]));
        Assert.Equal(NetworkRole.Stranger, NetworkRights.RoleOf(forTeam, Member, admin: false, [OtherTeam]));
        Assert.Equal(NetworkRole.Admin, NetworkRights.RoleOf(forTeam, Member, admin: true, []));
        Assert.True(NetworkRights.MayAttach(forTeam, Member, [Team]));
        Assert.False(NetworkRights.MayAttach(forTeam, Member, [OtherTeam]));
        Assert.True(NetworkRights.MayAttach(Outside(new ProviderOffer(true, [])), Member, []));
        Assert.False(NetworkRights.MayChange(NetworkRights.RoleOf(forTeam, Member, admin: false, [Team])));
    }

    [Fact]
    public void Hosts_get_a_provider_network_without_its_range_members_or_peers()
    {
        var outside = Outside(new ProviderOffer(true, []));
        outside.Cidr = "192.0.2.0/24";
        outside.Gateway = "192.0.2.1";
        var spec = outside.Spec;
        var hostA = Guid.NewGuid();
        var hostB = Guid.NewGuid();
        NetworkNic[] nics = [new(spec.Id, Guid.NewGuid(), "a", "52:54:00:00:00:01", "52:54:00:00:00:01", [hostA]), new(spec.Id, Guid.NewGuid(), "b", "52:54:00:00:00:02", "52:54:00:00:00:02", [hostB])];

        var carried = Assert.Single(HostNetworks.For(hostA, new Dictionary<Guid, NetworkSpec> { [spec.Id] = spec }, nics,
            new Dictionary<Guid, VxlanEndpoint> { [hostA] = new("192.0.2.10", 4789), [hostB] = new("192.0.2.11", 4789) }));

        Assert.Equal(new NetworkSpec(spec.Id, 9, "", "", false) { Provider = new ProviderLink("eth1", 42) }, carried.Network);
        Assert.Empty(carried.Members);
        Assert.Empty(carried.Peers);
    }

    [Theory]
    [InlineData("eth1", null, null, null, null)]
    [InlineData("eth 1", null, null, null, "interface")]
    [InlineData("eth1", 4095, null, null, "vlan")]
    [InlineData("eth1", null, "192.0.2.5/24", null, "cidr")]
    [InlineData("eth1", null, "192.0.2.0/24", "198.51.100.1", "gateway")]
    [InlineData("eth1", null, null, "192.0.2.1", "gateway")]
    [InlineData("bond0.7", 7, "192.0.2.0/24", "192.0.2.1", null)]
    public void Bad_provider_input_names_its_field(string iface, int? vlan, string? cidr, string? gateway, string? field)
    {
        var information = ProviderRules.InformationProblem(cidr, gateway);
        (string Field, string? Problem)[] problems =
        [
            ("interface", ProviderRules.InterfaceProblem(iface)),
            ("vlan", ProviderRules.VlanProblem(vlan)),
            (information.Field ?? "", information.Problem),
        ];

        Assert.Equal(field, problems.FirstOrDefault(p => p.Problem is not null).Field);
    }

    [Fact]
    public void A_provider_network_is_offered_to_someone()
    {
        Assert.NotNull(ProviderRules.OfferProblem(new ProviderOffer(false, [])));
        Assert.Null(ProviderRules.OfferProblem(new ProviderOffer(false, [Team])));
        Assert.Null(ProviderRules.OfferProblem(new ProviderOffer(true, [])));
    }

    [Fact]
    public void A_nic_on_a_provider_network_shows_that_the_provider_network_gives_its_address()
    {
        var spec = Outside(new ProviderOffer(true, [])).Spec;

        Assert.Equal("from the provider network", ProviderRules.ShownAddress(new NicNetwork(spec, "")));
        Assert.Equal("10.0.0.5", ProviderRules.ShownAddress(new NicNetwork(new NetworkSpec(Guid.NewGuid(), 1, "10.0.0.0/24", "10.0.0.1", true), "10.0.0.5")));
        Assert.Null(ProviderRules.ShownAddress(null));
    }
}
