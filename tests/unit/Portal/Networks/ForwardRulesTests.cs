using Paddock.Portal.Features.Networks;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Unit.Portal.Networks;

public sealed class ForwardRulesTests
{
    private static readonly (int, int) Range = (20000, 20002);

    [Theory]
    [InlineData("20000-20999", 20000, 20999)]
    [InlineData(" 8022 ", 8022, 8022)]
    [InlineData("1-65535", 1, 65535)]
    public void A_port_range_is_first_dash_last(string text, int first, int last) =>
        Assert.Equal((first, last), ForwardRules.ParseRange(text));

    [Theory]
    [InlineData("")]
    [InlineData("20999-20000")]
    [InlineData("0-10")]
    [InlineData("20000-70000")]
    [InlineData("20000-")]
    [InlineData("a-b")]
    [InlineData("1-2-3")]
    public void A_malformed_range_is_none(string text) => Assert.Null(ForwardRules.ParseRange(text));

    [Theory]
    [InlineData("icmp", 22, null, "protocol")]
    [InlineData("TCP", 22, null, "protocol")]
    [InlineData("tcp", 0, null, "guestPort")]
    [InlineData("udp", 65536, null, "guestPort")]
    [InlineData("tcp", 22, 19999, "hostPort")]
    [InlineData("tcp", 22, 20003, "hostPort")]
    public void A_request_outside_the_rules_is_refused_beside_its_field(string protocol, int guestPort, int? hostPort, string field) =>
        Assert.Equal(field, ForwardRules.Problem(new NewForward("net0", guestPort, protocol, hostPort), Range)?.Field);

    [Fact]
    public void A_request_inside_the_rules_passes()
    {
        Assert.Null(ForwardRules.Problem(new NewForward("net0", 22), Range));
        Assert.Null(ForwardRules.Problem(new NewForward("net0", 53, "udp", 20002), Range));
    }

    [Fact]
    public void The_host_port_is_the_one_asked_for_when_free_else_the_lowest_free_else_none()
    {
        Assert.Equal(20002, ForwardRules.Pick(Range, new HashSet<int> { 20000 }, 20002));
        Assert.Equal(20001, ForwardRules.Pick(Range, new HashSet<int> { 20000, 20002 }, 20002));
        Assert.Equal(20000, ForwardRules.Pick(Range, new HashSet<int>(), 19000));
        Assert.Null(ForwardRules.Pick(Range, new HashSet<int> { 20000, 20001, 20002 }));
    }

    [Fact]
    public void The_quota_counts_forwards_and_every_user_gets_five()
    {
        Assert.Equal(5, QuotaLimits.UserDefault.PortForwards);
        Assert.Null(ForwardRules.OverQuota(4, 5));
        Assert.Null(ForwardRules.OverQuota(100, null));
        Assert.Equal("Over quota: port forwards: you have 5 of 5; delete one first or ask an admin for more.", ForwardRules.OverQuota(5, 5));
    }

    [Fact]
    public void The_setting_is_checked_at_start()
    {
        Assert.Empty(new NetworkOptions().Validate(new(new object())));
        Assert.Contains("ForwardPorts", Assert.Single(new NetworkOptions { ForwardPorts = "80" + "-1" }.Validate(new(new object()))).ErrorMessage);
    }

    [Fact]
    public void Only_a_nic_on_a_network_with_nat_has_forwards()
    {
        Assert.Contains("isolated", ForwardRules.NotForwardable("net1", "web", null));
        Assert.Contains("NAT off", ForwardRules.NotForwardable("net0", "web", new TenantNetwork { Name = "lab", Nat = false }));
        Assert.Null(ForwardRules.NotForwardable("net0", "web", new TenantNetwork { Name = "lab", Nat = true }));
    }
}
