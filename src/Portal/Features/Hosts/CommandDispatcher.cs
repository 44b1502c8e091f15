using Marten;
using Microsoft.AspNetCore.SignalR;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// Sends recorded commands to their hosts' agents, one unfinished command per VM at a time and in
/// the order they were asked for. A command whose host is away waits; when the host returns, what
/// it had accepted but not finished is sent again and the agent recognises it by its operation id.
/// </summary>
public sealed class CommandDispatcher(
    IDocumentStore store,
    IHubContext<HostAgentHub, IHostAgent> hub,
    HostConnections connections,
    IServiceProvider services,
    TimeProvider clock,
    ILogger<CommandDispatcher> log) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>How long an agent has to accept a command before it is tried again.</summary>
    public static readonly TimeSpan AcceptTimeout = TimeSpan.FromSeconds(20);

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

    /// <summary>A host (re)registered: what it accepted but did not report on is sent again.</summary>
    public async Task HostReturnedAsync(Guid hostId)
    {
        await using (var query = store.QuerySession())
        {
            var unfinished = await query.Query<AgentCommand>().Where(c => c.HostId == hostId && c.State == AgentCommandState.Sent).Select(c => c.Id).ToListAsync();
            foreach (var id in unfinished)
            {
                await TryMoveAsync(id, AgentCommandState.Sent, AgentCommandState.Pending, CancellationToken.None);
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
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DispatchAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Dispatching agent commands failed; retrying");
            }

            // Woken by every new command and report; the period only covers hosts that came back.
            await _wake.WaitAsync(TimeSpan.FromSeconds(5), stoppingToken);
        }
    }

    private async Task DispatchAsync(CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var open = await session.Query<AgentCommand>()
            .Where(c => c.State == AgentCommandState.Pending || c.State == AgentCommandState.Sent)
            .OrderBy(c => c.CreatedAt)
            .ToListAsync(ct);

        // What each VM is busy with: the oldest task the agent has accepted and not finished.
        var busy = new Dictionary<Guid, VmVerb>();
        foreach (var sent in open.Where(c => c.State == AgentCommandState.Sent && VmRules.Occupies(c.Command.Verb)))
        {
            busy.TryAdd(sent.VmId, sent.Command.Verb);
        }

        foreach (var command in open.Where(c => c.State == AgentCommandState.Pending))
        {
            var verb = command.Command.Verb;
            var waits = busy.TryGetValue(command.VmId, out var current) && VmRules.Occupies(verb) && !VmRules.Interrupts(verb, current);
            if (waits || connections.ConnectionOf(command.HostId) is not { } connection)
            {
                // Later commands for this VM keep their order behind this one.
                busy.TryAdd(command.VmId, verb);
                continue;
            }

            if (VmRules.Occupies(verb))
            {
                busy[command.VmId] = verb;
            }

            await SendAsync(command, connection, ct);
        }
    }

    private async Task SendAsync(AgentCommand command, string connection, CancellationToken ct)
    {
        // Marked Sent before it goes, so that its outcome, however fast, always lands on a Sent command.
        if (!await TryMoveAsync(command.Id, AgentCommandState.Pending, AgentCommandState.Sent, ct))
        {
            return;
        }

        CommandAck ack;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(AcceptTimeout);
            ack = await hub.Clients.Client(connection).Execute(command.Command).WaitAsync(timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // The agent went away or did not answer: pending again, sent when it returns (it
            // recognises a resend by the operation id).
            log.LogWarning(e, "Host {Host} did not accept {Verb} of VM {Vm}", command.HostId, command.Command.Verb, command.VmId);
            await TryMoveAsync(command.Id, AgentCommandState.Sent, AgentCommandState.Pending, ct);
            return;
        }

        if (!ack.Accepted)
        {
            await services.GetRequiredService<VmObservations>().CompleteAsync(
                command.HostId, new OperationReport(command.Id, command.VmId, OperationState.Failed, ack.Refusal), ct);
        }
    }
}
