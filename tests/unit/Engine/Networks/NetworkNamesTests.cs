using Paddock.Engine.Networks;

namespace Paddock.Unit.Engine.Networks;

public sealed class NetworkNamesTests
{
    private readonly NetworkNames _pd = new("pd");

    [Fact]
    public void Every_name_fits_ifnamsiz_for_the_largest_vni() =>
        Assert.All(new[] { _pd.Bridge(0xFFFFFF), _pd.GatewayPort(0xFFFFFF), _pd.TransitPort(0xFFFFFF), _pd.Vxlan(0xFFFFFF),
            _pd.Tap(Guid.NewGuid(), "net0") }, name => Assert.InRange(name.Length, 1, 15));

    [Fact]
    public void Names_carry_the_prefix_a_kind_and_the_vni_in_hex() =>
        Assert.Equal(["pdb64", "pdg64", "pdn64", "pdx64", "pds64"],
            [_pd.Bridge(100), _pd.GatewayPort(100), _pd.TransitPort(100), _pd.Vxlan(100), _pd.Namespace(100)]);

    [Fact]
    public void A_tap_name_is_stable_and_differs_between_vms_with_the_same_nic_id()
    {
        var (one, other) = (Guid.NewGuid(), Guid.NewGuid());
        Assert.Equal(_pd.Tap(one, "net0"), _pd.Tap(one, "net0"));
        Assert.NotEqual(_pd.Tap(one, "net0"), _pd.Tap(other, "net0"));
        Assert.Matches("^pdt[0-9a-f]{8}$", _pd.Tap(one, "net0"));
    }

    [Theory]
    [InlineData("pdb64", 'b', 100)]
    [InlineData("pdbffffff", 'b', 0xFFFFFF)]
    [InlineData("pdb064", 'b', null)] // not a name this agent gives
    [InlineData("peb64", 'b', null)] // another agent's
    [InlineData("pdg64", 'b', null)]
    [InlineData("pdbxyz", 'b', null)]
    [InlineData("pdb", 'b', null)]
    [InlineData("pdb1000000", 'b', null)]
    public void Only_its_own_names_are_read_back(string name, char kind, int? vni) =>
        Assert.Equal(vni, _pd.VniOf(name, kind));

    [Theory]
    [InlineData("p")]
    [InlineData("pdd")] // would begin another agent's names ("pd" + "d...")
    [InlineData("PD")]
    [InlineData("p1")]
    [InlineData("")]
    public void A_prefix_is_exactly_two_lowercase_letters(string prefix) =>
        Assert.Equal("NetworkPrefix", Assert.Throws<InvalidNetworkException>(() => new NetworkNames(prefix)).Field);
}
