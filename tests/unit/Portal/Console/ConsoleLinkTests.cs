using Paddock.Portal.Features.Console;
using Paddock.Portal.Features.Vms;

namespace Paddock.Unit.Portal.Console;

public sealed class ConsoleLinkTests
{
    [Fact]
    public void An_open_socket_that_closes_by_itself_is_dialled_again_and_says_reconnected_when_it_opens()
    {
        var link = new ConsoleLink();
        link.Dial();
        link.Opened();
        Assert.Equal(ConsoleState.Connected, link.State);

        Assert.Equal(ConsoleLink.Waits[0], link.Closed(refusal: null, clean: true, vmRuns: true));
        Assert.Equal(ConsoleState.Reconnecting, link.State);
        Assert.False(link.MayDial);
        Assert.Equal("Reconnecting…", ConsoleLink.Describe(link.State));

        // The host's agent is still away: the next dial fails, and the wait grows.
        Assert.Equal(ConsoleLink.Waits[1], link.Closed(refusal: null, clean: false, vmRuns: true));
        link.Opened();
        Assert.Equal(ConsoleState.Reconnected, link.State);

        // A later drop starts again from the shortest wait.
        Assert.Equal(ConsoleLink.Waits[0], link.Closed(refusal: null, clean: true, vmRuns: true));
    }

    [Fact]
    public void The_waits_grow_to_about_half_a_minute_then_the_page_says_the_connection_is_lost()
    {
        var link = new ConsoleLink();
        link.Dial();
        link.Opened();
        var waits = new List<TimeSpan>();
        while (link.Closed(refusal: null, clean: false, vmRuns: true) is { } wait)
        {
            waits.Add(wait);
        }

        Assert.Equal(ConsoleLink.Waits, waits);
        Assert.Equal(TimeSpan.FromSeconds(0.5), waits[0]);
        Assert.All(waits.Zip(waits.Skip(1)), pair => Assert.True(pair.Second >= pair.First));
        Assert.InRange(waits.Sum(w => w.TotalSeconds), 25, 35);
        Assert.Equal(ConsoleState.ConnectionLost, link.State);
        Assert.Equal("Connection lost", ConsoleLink.Describe(link.State));
        Assert.True(link.MayDial);
    }

    [Fact]
    public void A_refusal_from_the_host_is_shown_and_never_dialled_again()
    {
        var link = new ConsoleLink();
        link.Dial();
        link.Opened();
        Assert.Equal(ConsoleLink.Waits[0], link.Closed(refusal: null, clean: true, vmRuns: true));

        Assert.Null(link.Closed(refusal: "Its host refused to open this console: something was changed", clean: false, vmRuns: true));
        Assert.Equal(ConsoleState.Refused, link.State);
        Assert.True(link.MayDial);
    }

    [Fact]
    public void A_first_dial_that_fails_and_a_vm_that_stopped_end_as_before()
    {
        var never = new ConsoleLink();
        never.Dial();
        Assert.Null(never.Closed(refusal: null, clean: false, vmRuns: true));
        Assert.Equal(ConsoleState.ConnectionLost, never.State);

        var stopped = new ConsoleLink();
        stopped.Dial();
        stopped.Opened();
        Assert.Null(stopped.Closed(refusal: null, clean: true, vmRuns: false));
        Assert.Equal(ConsoleState.Disconnected, stopped.State);
    }

    [Fact]
    public void A_dial_by_hand_after_the_page_gave_up_says_connected_not_reconnected()
    {
        var link = new ConsoleLink();
        link.Dial();
        link.Opened();
        link.Closed(refusal: null, clean: true, vmRuns: true);
        link.Closed(refusal: null, clean: true, vmRuns: false);
        Assert.Equal(ConsoleState.Disconnected, link.State);

        link.Dial();
        Assert.Equal(ConsoleState.Connecting, link.State);
        link.Opened();
        Assert.Equal(ConsoleState.Connected, link.State);
    }

    [Theory]
    [InlineData(VmStatus.Running, true)]
    [InlineData(VmStatus.Paused, true)]
    [InlineData(VmStatus.Migrating, true)]
    [InlineData(VmStatus.Unknown, true)]
    [InlineData(VmStatus.Stopped, false)]
    [InlineData(VmStatus.Saved, false)]
    [InlineData(VmStatus.Crashed, false)]
    [InlineData(VmStatus.Deleting, false)]
    public void Only_a_vm_that_runs_or_soon_runs_again_is_dialled_again(VmStatus status, bool comesBack) =>
        Assert.Equal(comesBack, ConsoleLink.MayComeBack(status));

    [Fact]
    public void A_session_someone_ended_is_not_dialled_again_and_says_ended_until_the_person_dials()
    {
        var link = new ConsoleLink();
        link.Dial();
        link.Opened();

        Assert.Null(link.Closed("Disconnected by vera.", clean: true, vmRuns: false, ended: true));
        Assert.Equal(ConsoleState.Ended, link.State);
        Assert.True(link.MayDial);
        link.Dial();
        Assert.Equal(ConsoleState.Connecting, link.State);
    }
}
