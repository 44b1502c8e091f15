using System.Collections.Concurrent;
using Marten;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Agents;

/// <summary>
/// Sends recorded commands to their hosts' agents, one unfinished command per VM and host at a time
/// and in the order they were asked for. Each host has a lane of its own: the sends to one host go one
/// after another, and the hosts' lanes run side by side, so an agent that is slow to accept (or
/// half dead, up to <see cref="AcceptTimeout"/>) holds up only its own commands. What waits for each
/// host is <see cref="BacklogOf"/>. A command whose host is away waits; when the host returns, what
/// it had accepted but not finished is sent again and the agent recognises it by its operation id.
/// A command whose host is gone, or away for longer than <see cref="PortalOptions.GiveUpAfter"/>,
/// ends as failed with the reason (<see cref="CommandGiveUp"/>).
/// </summary>
public sealed class CommandDispatcher(
    IDocumentStore store,
    IHubContext<HostAgentHub, IHostAgent> hub,
    HostConnections connections,
    IAgentReports reports,
    ChangeNotifier<VmChanged> vmChanges,
    IOptions<PortalOptions> options,
    TimeProvider clock,
    ILogger<CommandDispatcher> log) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>The hosts whose lane is sending, and since when each has waited for its agent to accept (null between sends).</summary>
    private readonly ConcurrentDictionary<Guid, DateTimeOffset?> _lanes = new();

    /// <summary>How many lanes may write a command's state at once.</summary>
    private readonly SemaphoreSlim _storeSlots = new(StoreSlots);

    public const int StoreSlots = 8;

    private IReadOnlyDictionary<Guid, CommandBacklog> _backlogs = new Dictionary<Guid, CommandBacklog>();

    /// <summary>When the dispatcher last went round (a failed round counts: it goes on); null before its first.</summary>
    public DateTimeOffset? LastRound { get; private set; }

    /// <summary>How long an agent has to accept a command before it is tried again.</summary>
    public static readonly TimeSpan AcceptTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The host's commands as this process last went round (every few seconds at most), and, while
    /// this process sends to it, since when its agent has left a command unanswered.
    /// </summary>
    public CommandBacklog BacklogOf(Guid hostId) =>
        (_backlogs.GetValueOrDefault(hostId) ?? CommandBacklog.Empty) with { UnansweredSince = _lanes.TryGetValue(hostId, out var since) ? since : null };

    public void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already awake.
            }
        }
    }

    /// <summary>
    /// A host (re)registered: what it accepted but did not report on is sent again, but a typing: an
    /// agent that restarted would type its text again from the start, so it ends, saying why.
    /// </summary>
    public async Task HostReturnedAsync(Guid hostId)
    {
        await using (var query = store.QuerySession())
        {
            var unfinished = await query.Query<AgentCommand>().Where(c => c.HostId == hostId && c.State == AgentCommandState.Sent).ToListAsync();
            foreach (var command in unfinished)
            {
                if (command.Command.Verb == VmVerb.TypeText)
                {
                    await reports.CompleteAsync(hostId, new OperationReport(command.Id, command.VmId, OperationState.Failed,
                        "Its host's agent went away while it typed: how much was typed is not known, and it is not typed again."));
                    continue;
                }

                await TryMoveAsync(command.Id, AgentCommandState.Sent, AgentCommandState.Pending, CancellationToken.None);
            }
        }

        Wake();
    }

    /// <summary>
    /// Moves a command from one state to another unless someone else changed it meanwhile (its
    /// outcome arrived, say): a version-checked write, never a lost update.
    /// </summary>
    private async Task<bool> TryMoveAsync(Guid id, AgentCommandState from, AgentCommandState to, CancellationToken ct)
    {
        // Lanes wait for an agent side by side, but write to the store a few at a time: a thousand
        // hosts coming back at once must not take every pooled connection.
        await _storeSlots.WaitAsync(ct);
        try
        {
            return await MoveAsync(id, from, to, ct);
        }
        finally
        {
            _storeSlots.Release();
        }
    }

    private async Task<bool> MoveAsync(Guid id, AgentCommandState from, AgentCommandState to, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var command = await session.LoadAsync<AgentCommand>(id, ct);
        if (command?.State != from)
        {
            return false;
        }

        command.State = to;
        command.SentAt = to == AgentCommandState.Sent ? clock.GetUtcNow() : command.SentAt;
        session.Store(command);
        try
        {
            await session.SaveChangesAsync(ct);
            return true;
        }
        catch (JasperFx.ConcurrencyException)
        {
            return false;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A command queued through another portal process comes with its VM's change notice; this
        // process may hold the host's connection.
        using var queuedElsewhere = vmChanges.Subscribe(_ =>
        {
            Wake();
            return Task.CompletedTask;
        });
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DispatchAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The store away (a timed-out query cancels too): only the portal stopping ends the dispatcher.
                log.LogError(e, "Dispatching agent commands failed; retrying");
            }

            LastRound = clock.GetUtcNow();

            // Woken by every new command, report and VM change; the period covers hosts that came back and the store's return.
            await _wake.WaitAsync(TimeSpan.FromSeconds(5), stoppingToken);
        }
    }

    private async Task DispatchAsync(CancellationToken ct)
    {
        IReadOnlyList<AgentCommand> open;
        await using (var session = store.LightweightSession())
        {
            open = await session.Query<AgentCommand>()
                .Where(c => c.State == AgentCommandState.Pending || c.State == AgentCommandState.Sent)
                .OrderBy(c => c.CreatedAt)
                .ToListAsync(ct);
            open = await GiveUpAsync(session, open, ct);
        }

        _backlogs = CommandBacklog.Of(open);
        foreach (var lane in Sendable(open).GroupBy(s => s.Command.HostId))
        {
            if (_lanes.TryAdd(lane.Key, null))
            {
                _ = RunLaneAsync(lane.Key, [.. lane], ct);
            }
        }
    }

    /// <summary>
    /// The pending commands that may go now, in order, with their hosts' connections: none for a VM
    /// busy on that host with a command it must not interrupt, none for a host away, and none for a
    /// host whose lane still sends (it wakes the dispatcher when done).
    /// </summary>
    private List<(AgentCommand Command, string Connection)> Sendable(IReadOnlyList<AgentCommand> open)
    {
        // What each VM is busy with on each host: the oldest task that host's agent has accepted and
        // not finished. (A migrating VM has commands on two hosts; one host being away holds up
        // only what goes to it, such as the cleanup of a destination whose agent died.)
        var busy = new Dictionary<(Guid VmId, Guid HostId), VmVerb>();
        foreach (var sent in open.Where(c => c.State == AgentCommandState.Sent && VerbRules.Occupies(c.Command.Verb)))
        {
            busy.TryAdd((sent.VmId, sent.HostId), sent.Command.Verb);
        }

        var sendable = new List<(AgentCommand, string)>();
        foreach (var command in open.Where(c => c.State == AgentCommandState.Pending && !_lanes.ContainsKey(c.HostId)))
        {
            var verb = command.Command.Verb;
            var key = (command.VmId, command.HostId);
            var waits = busy.TryGetValue(key, out var current) && VerbRules.Occupies(verb) && !VerbRules.Interrupts(verb, current);
            if (waits || connections.ConnectionOf(command.HostId) is not { } connection)
            {
                // Later commands for this VM on this host keep their order behind this one.
                busy.TryAdd(key, verb);
                continue;
            }

            if (VerbRules.Occupies(verb))
            {
                busy[key] = verb;
            }

            sendable.Add((command, connection));
        }

        return sendable;
    }

    /// <summary>One host's sends, one after another; then the dispatcher goes round again for what came meanwhile.</summary>
    private async Task RunLaneAsync(Guid hostId, IReadOnlyList<(AgentCommand Command, string Connection)> sends, CancellationToken ct)
    {
        try
        {
            foreach (var (command, connection) in sends)
            {
                await SendAsync(command, connection, ct);
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The store away: what was not sent stays pending for the next round.
            log.LogError(e, "Sending commands to host {Host} failed; retrying", hostId);
        }
        catch (OperationCanceledException)
        {
            // The portal stops.
        }
        finally
        {
            _lanes.TryRemove(hostId, out _);
            Wake();
        }
    }

    /// <summary>Fails the commands whose host will not carry them out (<see cref="CommandGiveUp"/>); returns the others.</summary>
    private async Task<IReadOnlyList<AgentCommand>> GiveUpAsync(IQuerySession session, IReadOnlyList<AgentCommand> open, CancellationToken ct)
    {
        if (open.Count == 0)
        {
            return open;
        }

        var hosts = (await session.LoadManyAsync<HostRecord>(ct, open.Select(c => c.HostId).Distinct())).ToDictionary(h => h.Id);
        var now = clock.GetUtcNow();
        var kept = new List<AgentCommand>();
        foreach (var command in open)
        {
            if (CommandGiveUp.Reason(command, hosts.GetValueOrDefault(command.HostId), now, options.Value.GiveUpAfter) is not { } reason)
            {
                kept.Add(command);
                continue;
            }

            log.LogWarning("Giving up {Verb} of VM {Vm}: {Reason}", command.Command.Verb, command.VmId, reason);
            await reports.CompleteAsync(command.HostId, new OperationReport(command.Id, command.VmId, OperationState.Failed, reason), ct);
        }

        return kept;
    }

    private async Task SendAsync(AgentCommand command, string connection, CancellationToken ct)
    {
        // Marked Sent before it goes, so that its outcome, however fast, always lands on a Sent command.
        if (!await TryMoveAsync(command.Id, AgentCommandState.Pending, AgentCommandState.Sent, ct))
        {
            return;
        }

        CommandAck ack;
        using var span = Shared.PortalTracing.Send(command.Command.Verb.ToString(), command.VmId, command.Id, command.TraceParent);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(AcceptTimeout);
            _lanes[command.HostId] = clock.GetUtcNow();
            ack = await hub.Clients.Client(connection).Execute(command.Command with { TraceParent = span?.Id ?? command.TraceParent }).WaitAsync(timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The agent went away or did not answer: pending again, sent when it returns (it
            // recognises a resend by the operation id).
            log.LogWarning(e, "Host {Host} did not accept {Verb} of VM {Vm}", command.HostId, command.Command.Verb, command.VmId);
            await TryMoveAsync(command.Id, AgentCommandState.Sent, AgentCommandState.Pending, ct);
            return;
        }
        finally
        {
            _lanes[command.HostId] = null;
        }

        if (!ack.Accepted)
        {
            await reports.CompleteAsync(command.HostId, new OperationReport(command.Id, command.VmId, OperationState.Failed, ack.Refusal), ct);
        }
    }
}
