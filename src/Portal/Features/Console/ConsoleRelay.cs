using System.Collections.Concurrent;
using System.Net.WebSockets;
using Marten;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// What a dial-back came to: the meeting (dispose it when the session ends) and the agent's socket, or a status saying why not, with the sentence for people when the agent refused.
/// For the screen, <paramref name="Preface"/> is its VNC session, opened ahead of the browser.
/// </summary>
public sealed record DialOutcome(ConsoleRendezvous.Meeting? Meeting, WebSocket? Socket, int Status, string? Refusal, RfbPreface? Preface = null);

/// <summary>
/// Asks a VM's agent to dial back for one console session and waits for its socket. The agent may be
/// connected to another portal process on the same database: then that process asks it, through
/// <see cref="ConsoleForwarding"/>, to dial back here (<see cref="PortalOptions.DirectUrl"/>).
/// A console page starts the dial as it issues its ticket (<see cref="Prepare"/>), so that the
/// agent's socket is on its way while the browser opens its own; the browser's socket takes it
/// only once it has passed every check (Origin, rights, the ticket).
/// </summary>
public sealed class ConsoleRelay(
    ConsoleRendezvous rendezvous,
    HostConnections connections,
    IHubContext<HostAgentHub, IHostAgent> hub,
    ConsoleForwarding forwarding,
    IDocumentStore store,
    IOptions<PortalOptions> options,
    Audit audit,
    ConsoleRefusals refusals,
    TimeProvider clock,
    ILoggerFactory logs)
{
    public ILogger Log { get; } = logs.CreateLogger("Paddock.Console");

    /// <summary>How long a prepared dial waits for its browser (beyond the agent's dial timeout: a slow dial is not cut); then it is closed.</summary>
    private static readonly TimeSpan PreparedFor = TimeSpan.FromSeconds(20);

    /// <summary>How old a prepared screen session may be when its browser comes: its ServerInit gives the desktop's size as of then.</summary>
    private static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, PreparedDial> _prepared = new();

    private sealed record PreparedDial(Guid VmId, Guid HostId, ConsoleKind Kind, Task<DialOutcome> Dial);

    /// <summary>
    /// Starts the agent's dial-back for the console that <paramref name="ticket"/> opens, before the
    /// browser comes with it. Only for the screen: its VNC server takes several clients, and an unused
    /// dial holds nothing from anyone; it is closed after <see cref="PreparedFor"/>.
    /// </summary>
    public void Prepare(Vm vm, ConsoleKind kind, string ticket)
    {
        if (kind != ConsoleKind.Vnc)
        {
            return;
        }

        var prepared = new PreparedDial(vm.Id, vm.HostId, kind, DialAsync(vm, kind, CancellationToken.None, prepared: true));
        _prepared[ticket] = prepared;
        _ = CloseUnusedAsync(ticket, prepared);
    }

    /// <summary>
    /// The dial prepared for <paramref name="ticket"/> when it is for this VM, kind and host (the VM
    /// may have moved since the page issued it) and it reached the agent, or found no agent to ask or
    /// none that answered in time (asking again now would only wait as long again); otherwise a new one,
    /// so that a refusal is recorded for the page.
    /// </summary>
    public async Task<DialOutcome> TakeOrDialAsync(string ticket, Vm vm, ConsoleKind kind, CancellationToken ct)
    {
        if (_prepared.TryRemove(ticket, out var prepared))
        {
            var dial = await OutcomeAsync(prepared);
            if (prepared.VmId == vm.Id && prepared.HostId == vm.HostId && prepared.Kind == kind
                && (dial.Socket is not null || dial.Status is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout)
                && (dial.Preface is null || clock.GetUtcNow() - dial.Preface.At < FreshFor))
            {
                return dial;
            }

            Close(dial);
        }

        return await DialAsync(vm, kind, ct);
    }

    private async Task CloseUnusedAsync(string ticket, PreparedDial prepared)
    {
        await Task.Delay(PreparedFor, clock);
        if (_prepared.TryRemove(new KeyValuePair<string, PreparedDial>(ticket, prepared)))
        {
            Close(await OutcomeAsync(prepared));
        }
    }

    /// <summary>What the prepared dial came to; nothing when it failed in a way <see cref="DialAsync"/> does not answer for.</summary>
    private async Task<DialOutcome> OutcomeAsync(PreparedDial prepared)
    {
        try
        {
            return await prepared.Dial;
        }
        catch (Exception e)
        {
            Log.LogWarning(e, "A console dial prepared for VM {Vm} failed", prepared.VmId);
            return new DialOutcome(null, null, 0, null);
        }
    }

    private static void Close(DialOutcome dial)
    {
        dial.Socket?.Abort();
        dial.Meeting?.Dispose();
    }

    /// <summary>
    /// The meeting (dispose it when the session ends) and the agent's socket, or a status code saying why
    /// not, with the sentence for people when the agent refused (also kept for the console page, unless
    /// <paramref name="prepared"/>: a prepared dial's refusal counts only when a browser's dial meets it again).
    /// </summary>
    public async Task<DialOutcome> DialAsync(Vm vm, ConsoleKind kind, CancellationToken ct, bool prepared = false)
    {
        var connection = connections.ConnectionOf(vm.HostId);
        var direct = options.Value.DirectUrl;
        if (connection is null && (direct is null || !await HeldElsewhereAsync(vm.HostId, ct)))
        {
            return new DialOutcome(null, null, StatusCodes.Status503ServiceUnavailable, null);
        }

        var meeting = rendezvous.Open(vm.HostId);
        var timeout = options.Value.Console.AgentDialTimeout;
        try
        {
            var ack = connection is not null
                ? await hub.Clients.Client(connection).OpenConsole(new ConsoleDial(vm.Id, meeting.Nonce, kind)).WaitAsync(timeout, ct)
                : await forwarding.AskAsync(vm.HostId, new ConsoleDial(vm.Id, meeting.Nonce, kind, direct), timeout, ct);
            if (!ack.Accepted)
            {
                Log.LogWarning("The agent refused the {Kind} console of {Vm}: {Reason}", kind, vm.Id, ack.Refusal);
                var refusal = ConsoleRefusals.ForPeople(ack);
                if (prepared)
                {
                    return new DialOutcome(meeting, null, StatusCodes.Status409Conflict, refusal);
                }

                refusals.Record(vm.Id, kind, refusal);
                if (ack.Tampering)
                {
                    await audit.RecordAsync(Vms.VmObservations.TamperingEntry(vm, $"{kind} console refused by its host", ack.Refusal, clock.GetUtcNow()), ct);
                }

                return new DialOutcome(meeting, null, StatusCodes.Status409Conflict, refusal);
            }

            var socket = await meeting.AgentSocket.WaitAsync(timeout, ct);
            return kind == ConsoleKind.Vnc ? await OpenScreenAsync(vm, meeting, socket, ct) : new DialOutcome(meeting, socket, StatusCodes.Status101SwitchingProtocols, null);
        }
        catch (Exception e) when (e is TimeoutException or IOException or HubException)
        {
            Log.LogWarning("The agent of host {Host} did not open the {Kind} console of {Vm}: {Message}", vm.HostId, kind, vm.Id, e.Message);
            return new DialOutcome(meeting, null, StatusCodes.Status504GatewayTimeout, null);
        }
    }

    /// <summary>Opens the screen's VNC session through the agent's socket (<see cref="RfbPreface"/>); a 502 when its server does not answer as QEMU's does.</summary>
    private async Task<DialOutcome> OpenScreenAsync(Vm vm, ConsoleRendezvous.Meeting meeting, WebSocket socket, CancellationToken ct)
    {
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct);
        handshake.CancelAfter(options.Value.Console.AgentDialTimeout);
        try
        {
            return new DialOutcome(meeting, socket, StatusCodes.Status101SwitchingProtocols, null, await RfbPreface.OpenAsync(socket, clock, handshake.Token));
        }
        catch (Exception e) when (e is InvalidDataException or WebSocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            Log.LogWarning("The screen of VM {Vm} did not open its VNC session: {Message}", vm.Id, e.Message);
            socket.Abort();
            return new DialOutcome(meeting, null, StatusCodes.Status502BadGateway, null);
        }
    }

    /// <summary>Whether another portal process holds the host's connection (its record says connected, and this process holds none).</summary>
    private async Task<bool> HeldElsewhereAsync(Guid hostId, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<Hosts.HostRecord>(hostId, ct) is { Connected: true, Unreachable: false, Revoked: false };
    }
}
