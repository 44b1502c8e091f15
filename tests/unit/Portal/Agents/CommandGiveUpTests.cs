using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Unit.Portal.Agents;

/// <summary>No task stays in progress for ever: when the portal stops waiting for a command's host, and what it says.</summary>
public sealed class CommandGiveUpTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    private static AgentCommand Command(AgentCommandState state, VmVerb verb = VmVerb.Start, TimeSpan? age = null)
    {
        var id = Guid.NewGuid();
        var vm = Guid.NewGuid();
        return new AgentCommand { Id = id, VmId = vm, Command = new VmCommand(id, vm, verb), State = state, CreatedAt = Now - (age ?? TimeSpan.FromHours(1)) };
    }

    private static HostRecord Host(bool connected = false, TimeSpan? away = null, bool revoked = false) =>
        new() { Name = "hv-1", Connected = connected, LastSeenAt = Now - (away ?? TimeSpan.FromHours(1)), Revoked = revoked };

    [Fact]
    public void A_connected_host_keeps_its_commands_however_old()
    {
        Assert.Null(CommandGiveUp.Reason(Command(AgentCommandState.Sent), Host(connected: true), Now, Limit));
        Assert.Null(CommandGiveUp.Reason(Command(AgentCommandState.Pending), Host(connected: true), Now, Limit));
    }

    [Fact]
    public void A_host_away_for_less_than_the_limit_keeps_its_commands()
    {
        Assert.Null(CommandGiveUp.Reason(Command(AgentCommandState.Pending), Host(away: TimeSpan.FromMinutes(9)), Now, Limit));
        // Away for long, but the command was asked for a moment ago: it too gets its time.
        Assert.Null(CommandGiveUp.Reason(Command(AgentCommandState.Pending, age: TimeSpan.FromMinutes(1)), Host(), Now, Limit));
    }

    [Fact]
    public void A_host_away_past_the_limit_fails_a_command_never_sent_saying_so()
    {
        var reason = CommandGiveUp.Reason(Command(AgentCommandState.Pending, VmVerb.Pause), Host(), Now, Limit);
        Assert.Equal("Its host hv-1 has been away for more than 10 minutes: Pause was never sent to it and is given up.", reason);
    }

    [Fact]
    public void A_host_away_past_the_limit_fails_a_sent_command_saying_its_end_is_unknown()
    {
        var reason = CommandGiveUp.Reason(Command(AgentCommandState.Sent, VmVerb.Snapshot), Host(away: TimeSpan.FromMinutes(11)), Now, Limit);
        Assert.Equal(
            "Its host hv-1 went away before saying how Snapshot ended and has not come back within 10 minutes; the VM shows its state again once the host returns.",
            reason);
    }

    [Fact]
    public void A_revoked_or_unknown_host_fails_its_commands_at_once()
    {
        Assert.Equal("Its host hv-1 was revoked: Start was not carried out.",
            CommandGiveUp.Reason(Command(AgentCommandState.Sent, age: TimeSpan.Zero), Host(away: TimeSpan.Zero, revoked: true), Now, Limit));
        Assert.Equal("Its host is no longer known to the portal: Start was not carried out.",
            CommandGiveUp.Reason(Command(AgentCommandState.Pending, age: TimeSpan.Zero), null, Now, Limit));
    }

    [Fact]
    public void A_finished_command_or_a_guest_move_only_its_destination_can_confirm_is_never_given_up()
    {
        Assert.Null(CommandGiveUp.Reason(Command(AgentCommandState.Succeeded), null, Now, Limit));
        Assert.Null(CommandGiveUp.Reason(Command(AgentCommandState.Sent, VmVerb.FinishMigration), Host(), Now, Limit));
    }

    [Fact]
    public void A_limit_under_a_minute_is_said_in_seconds()
    {
        var reason = CommandGiveUp.Reason(Command(AgentCommandState.Pending), Host(), Now, TimeSpan.FromSeconds(20));
        Assert.Contains("away for more than 20 seconds", reason);
    }
}
