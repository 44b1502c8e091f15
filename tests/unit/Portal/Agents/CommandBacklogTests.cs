using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;

namespace Paddock.Unit.Portal.Agents;

/// <summary>What the Hosts page says a host's agent has to do: its backlog by host, in words.</summary>
public sealed class CommandBacklogTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static AgentCommand Command(Guid host, AgentCommandState state, TimeSpan age)
    {
        var id = Guid.NewGuid();
        var vm = Guid.NewGuid();
        return new AgentCommand { Id = id, VmId = vm, HostId = host, Command = new VmCommand(id, vm, VmVerb.Start), State = state, CreatedAt = Now - age };
    }

    [Fact]
    public void Open_commands_are_counted_by_host_with_the_age_of_the_oldest_waiting()
    {
        Guid a = Guid.NewGuid(), b = Guid.NewGuid();
        var backlogs = CommandBacklog.Of(
        [
            Command(a, AgentCommandState.Pending, TimeSpan.FromSeconds(14)),
            Command(a, AgentCommandState.Pending, TimeSpan.FromSeconds(3)),
            Command(a, AgentCommandState.Sent, TimeSpan.FromMinutes(5)),
            Command(b, AgentCommandState.Sent, TimeSpan.FromSeconds(1)),
        ]);

        Assert.Equal(new CommandBacklog(2, Now - TimeSpan.FromSeconds(14), 1), backlogs[a]);
        Assert.Equal(new CommandBacklog(0, null, 1), backlogs[b]);
        Assert.Equal("2 waiting (oldest 14 seconds), 1 under way", backlogs[a].Describe(Now));
        Assert.Equal("1 under way", backlogs[b].Describe(Now));
    }

    [Fact]
    public void An_unanswered_send_is_told_with_how_long_and_nothing_open_is_none()
    {
        Assert.Equal("1 under way, no answer for 9 seconds", new CommandBacklog(0, null, 1, Now - TimeSpan.FromSeconds(9)).Describe(Now));
        Assert.Equal("none", CommandBacklog.Empty.Describe(Now));
        Assert.Empty(CommandBacklog.Of([]));
    }
}
