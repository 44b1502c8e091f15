using Paddock.Engine.Contract;
using Paddock.Engine.Qmp;

namespace Paddock.Unit.Engine.Qmp;

/// <summary>What an agent that finds a QEMU (at start or after a restart) takes its run state for.</summary>
public sealed class QmpRunStatusTests
{
    [Theory]
    [InlineData("running", VmPowerState.Running)]
    [InlineData("inmigrate", VmPowerState.Running)]
    [InlineData("shutdown", VmPowerState.ShuttingDown)]
    [InlineData("paused", VmPowerState.Paused)]
    [InlineData("prelaunch", VmPowerState.Paused)]
    [InlineData("suspended", VmPowerState.Paused)]
    // A save or migration that finished (or was cut short) while no agent watched: the vCPUs stand still.
    [InlineData("postmigrate", VmPowerState.Paused)]
    [InlineData("finish-migrate", VmPowerState.Paused)]
    [InlineData("io-error", VmPowerState.Paused)]
    [InlineData("internal-error", VmPowerState.Paused)]
    [InlineData("guest-panicked", VmPowerState.Paused)]
    public void A_QEMU_whose_vCPUs_stand_still_is_paused_whatever_stopped_them(string status, VmPowerState expected) =>
        Assert.Equal(expected, new QmpRunStatus(status).PowerState);

    [Theory]
    [InlineData("inmigrate", true, false, false)]
    [InlineData("postmigrate", false, true, false)]
    [InlineData("prelaunch", false, false, true)]
    [InlineData("running", false, false, false)]
    [InlineData("paused", false, false, false)]
    [InlineData("finish-migrate", false, false, false)]
    public void A_QEMU_that_waits_for_its_state_sent_it_all_away_or_never_ran_its_guest_says_so(string status, bool awaitsIncoming, bool sentAway, bool neverRan)
    {
        Assert.Equal(awaitsIncoming, new QmpRunStatus(status).AwaitsIncoming);
        Assert.Equal(sentAway, new QmpRunStatus(status).SentAway);
        Assert.Equal(neverRan, new QmpRunStatus(status).NeverRan);
    }
}
