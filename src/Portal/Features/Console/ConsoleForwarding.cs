using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Shared;

namespace Paddock.Portal.Features.Console;

/// <summary>A console dial this process asks of whichever portal process holds <paramref name="HostId"/>'s agent.</summary>
public sealed record ConsoleDialAsked(Guid RequestId, Guid HostId, ConsoleDial Dial);

/// <summary>The agent's answer to <see cref="ConsoleDialAsked"/>, from the process that holds it.</summary>
public sealed record ConsoleDialAnswered(Guid RequestId, CommandAck Ack);

/// <summary>
/// Console dials across portal processes on one database. A browser's console socket may reach a
/// process that does not hold the VM's host connection: that process asks the others through the
/// change bus (PostgreSQL NOTIFY), the one holding the connection hands the dial to its agent and
/// sends back the agent's answer, and the agent dials the asking process directly. The console's
/// bytes never pass through the other process nor the database.
/// </summary>
public sealed class ConsoleForwarding : IHostedService
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<CommandAck>> _waiting = new();
    private readonly ChangeNotifier<ConsoleDialAsked> _asked;
    private readonly ChangeNotifier<ConsoleDialAnswered> _answered;
    private readonly HostConnections _connections;
    private readonly IHubContext<HostAgentHub, IHostAgent> _hub;
    private readonly ILogger<ConsoleForwarding> _log;
    private IDisposable[] _subscriptions = [];

    public ConsoleForwarding(
        ChangeNotifier<ConsoleDialAsked> asked,
        ChangeNotifier<ConsoleDialAnswered> answered,
        HostConnections connections,
        IHubContext<HostAgentHub, IHostAgent> hub,
        ILogger<ConsoleForwarding> log)
    {
        (_asked, _answered, _connections, _hub, _log) = (asked, answered, connections, hub, log);
    }

    /// <summary>Listens from the start: this process may hold the agent another process needs.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscriptions = [_asked.Subscribe(HandAsync), _answered.Subscribe(Answered)];
        return Task.CompletedTask;
    }

    /// <summary>The agent's answer through the process that holds it; a <see cref="TimeoutException"/> when none holds it or it did not answer in time.</summary>
    public async Task<CommandAck> AskAsync(Guid hostId, ConsoleDial dial, TimeSpan timeout, CancellationToken ct)
    {
        var request = Guid.NewGuid();
        var answer = new TaskCompletionSource<CommandAck>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[request] = answer;
        try
        {
            _asked.Publish(new ConsoleDialAsked(request, hostId, dial));
            return await answer.Task.WaitAsync(timeout, ct);
        }
        finally
        {
            _waiting.TryRemove(request, out _);
        }
    }

    /// <summary>Another process asks: if this one holds the host's agent, the agent is asked and its answer sent back.</summary>
    private async Task HandAsync(ConsoleDialAsked asked)
    {
        if (_connections.ConnectionOf(asked.HostId) is not { } connection)
        {
            return;
        }

        CommandAck ack;
        try
        {
            ack = await _hub.Clients.Client(connection).OpenConsole(asked.Dial).WaitAsync(ConsoleOptions.ForwardedDialTimeout);
        }
        catch (Exception e) when (e is TimeoutException or IOException or HubException)
        {
            _log.LogWarning("The agent of host {Host} did not answer a console dial asked through another portal process: {Message}", asked.HostId, e.Message);
            return;
        }

        _answered.Publish(new ConsoleDialAnswered(asked.RequestId, ack));
    }

    private Task Answered(ConsoleDialAnswered answered)
    {
        if (_waiting.TryGetValue(answered.RequestId, out var waiting))
        {
            waiting.TrySetResult(answered.Ack);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var subscription in _subscriptions)
        {
            subscription.Dispose();
        }

        return Task.CompletedTask;
    }
}
