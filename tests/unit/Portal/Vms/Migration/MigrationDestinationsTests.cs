using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Vms.Migration;

public sealed class MigrationDestinationsTests
{
    [Fact]
    public void The_destinations_are_the_other_hosts_by_name_and_those_that_take_no_vm_say_why()
    {
        var here = Host("b-here");
        var hosts = new[] { Host("d-down", reachable: false), here, Host("c-resting", maintenance: true), Host("a-free") };

        var destinations = MigrationDestinations.Of(hosts, here.Id);

        Assert.Equal(["a-free", "c-resting (in maintenance)", "d-down (unreachable)"], destinations.Select(MigrationDestinations.Label));
        Assert.Null(destinations[0].Unavailable);
    }

    private static HostView Host(string name, bool reachable = true, bool maintenance = false) =>
        new(Guid.NewGuid(), name, 4, 8192, 100_000, OvercommitPolicy.Default, default, reachable, maintenance);
}
