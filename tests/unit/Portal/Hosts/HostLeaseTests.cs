using Paddock.Portal.Features.Hosts;

namespace Paddock.Unit.Portal.Hosts;

public sealed class HostLeaseTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_host_whose_portal_died_is_away_once_its_lease_ran_out_though_its_record_says_connected()
    {
        var host = new HostRecord { Connected = true, LastSeenAt = Now - TimeSpan.FromHours(1) };
        Assert.False(HostLease.Expired(host, new HostLease { Until = Now + TimeSpan.FromSeconds(1) }, Now, Grace));
        Assert.True(HostLease.Expired(host, new HostLease { Until = Now }, Now, Grace));
    }

    [Fact]
    public void A_host_without_a_lease_is_away_a_grace_after_it_was_last_seen_or_enrolled()
    {
        Assert.False(HostLease.Expired(new HostRecord { LastSeenAt = Now - Grace + TimeSpan.FromSeconds(1) }, null, Now, Grace));
        Assert.True(HostLease.Expired(new HostRecord { LastSeenAt = Now - Grace }, null, Now, Grace));
        // Enrolled, never registered: a grace from its enrolment.
        Assert.False(HostLease.Expired(new HostRecord { EnrolledAt = Now - TimeSpan.FromSeconds(1) }, null, Now, Grace));
        Assert.True(HostLease.Expired(new HostRecord { EnrolledAt = Now - Grace }, null, Now, Grace));
    }
}
