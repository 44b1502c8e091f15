using System.Net.WebSockets;
using Marten;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// Asks a VM's agent to dial back for one console session and waits for its socket. The agent may be
/// connected to another portal process on the same database: then that process asks it, through
/// <see cref="ConsoleForwarding"/>, to dial back here (<see cref="PortalOptions.DirectUrl"/>).
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

    /// <summary>
    /// The meeting (dispose it when the session ends) and the agent's socket, or a status code saying why
    /// not, with the sentence for people when the agent refused (also kept for the console page).
    /// </summary>
    public async Task<(ConsoleRendezvous.Meeting? Meeting, WebSocket? Socket, int Status, string? Refusal)> DialAsync(Vm vm, ConsoleKind kind, CancellationToken ct)
    {
        var connection = connections.ConnectionOf(vm.HostId);
        var direct = options.Value.DirectUrl;
        if (connection is null && (direct is null || !await HeldElsewhereAsync(vm.HostId, ct)))
        {
            return (null, null, StatusCodes.Status503ServiceUnavailable, null);
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
                refusals.Record(vm.Id, kind, refusal);
                if (ack.Tampering)
                {
                    await audit.RecordAsync(Vms.VmObservations.TamperingEntry(vm, $"{kind} console refused by its host", ack.Refusal, clock.GetUtcNow()), ct);
                }

                return (meeting, null, StatusCodes.Status409Conflict, refusal);
            }

            return (meeting, await meeting.AgentSocket.WaitAsync(timeout, ct), StatusCodes.Status101SwitchingProtocols, null);
        }
        catch (Exception e) when (e is TimeoutException or IOException or HubException)
        {
            Log.LogWarning("The agent of host {Host} did not open the {Kind} console of {Vm}: {Message}", vm.HostId, kind, vm.Id, e.Message);
            return (meeting, null, StatusCodes.Status504GatewayTimeout, null);
        }
    }

    /// <summary>Whether another portal process holds the host's connection (its record says connected, and this process holds none).</summary>
    private async Task<bool> HeldElsewhereAsync(Guid hostId, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<Hosts.HostRecord>(hostId, ct) is { Connected: true, Unreachable: false, Revoked: false };
    }
}
