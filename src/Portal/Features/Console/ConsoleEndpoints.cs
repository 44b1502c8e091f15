using System.Net.WebSockets;
using Marten;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

public sealed record ConsoleTicketResponse(string Ticket, string Path);

/// <summary>
/// The console relay. The browser's socket is admitted only for a user who may use the VM, from
/// the portal's own Origin (CVE-2015-0259), with a live single-use ticket. The agent then dials a
/// binary WebSocket back for this session and the two are spliced: no VNC port on any network,
/// no framebuffer bytes in SignalR messages.
/// </summary>
public static class ConsoleEndpoints
{
    public static string SocketPath(Guid vmId, string ticket) => $"/console/{vmId}/ws?ticket={Uri.EscapeDataString(ticket)}";

    public static void MapConsoleEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/vms/{vmId:guid}/console-ticket", async (Guid vmId, HttpContext http, IDocumentStore store, ConsoleTickets tickets) =>
        {
            await using var session = store.QuerySession();
            if (await VmService.FindAsync(session, http.User, vmId, http.RequestAborted) is null)
            {
                return Results.Problem(statusCode: 404, title: "No such VM.");
            }

            var ticket = await tickets.IssueAsync(http.User.UserId(), vmId, http.RequestAborted);
            return Results.Ok(new ConsoleTicketResponse(ticket, SocketPath(vmId, ticket)));
        }).RequireAuthorization().AddEndpointFilter(VmEndpoints.RequireApiHeader);

        app.Map("/console/{vmId:guid}/ws", BrowserAsync).RequireAuthorization();
        app.Map("/console/agent/{nonce}", AgentAsync).RequireAuthorization(AgentAuthentication.Policy);
    }

    private static async Task BrowserAsync(
        Guid vmId,
        HttpContext http,
        IDocumentStore store,
        ConsoleTickets tickets,
        ConsoleRendezvous rendezvous,
        HostConnections connections,
        IHubContext<HostAgentHub, IHostAgent> hub,
        IOptions<PortalOptions> options,
        ILoggerFactory logs)
    {
        var log = logs.CreateLogger("Paddock.Console");
        if (!http.WebSockets.IsWebSocketRequest)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var origin = http.Request.Headers.Origin.ToString();
        if (!string.Equals(origin, $"{http.Request.Scheme}://{http.Request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            log.LogWarning("Console for {Vm} refused: Origin '{Origin}' is not the portal's", vmId, origin);
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        Vm? vm;
        await using (var session = store.QuerySession())
        {
            vm = await VmService.FindAsync(session, http.User, vmId, http.RequestAborted);
        }

        if (vm is null)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        if (!await tickets.ConsumeAsync(http.Request.Query["ticket"], http.User.UserId(), vmId, http.RequestAborted))
        {
            log.LogWarning("Console for {Vm} refused: ticket missing, used, expired or not this user's", vmId);
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        if (connections.ConnectionOf(vm.HostId) is not { } connection)
        {
            http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        using var meeting = rendezvous.Open();
        CommandAck ack;
        try
        {
            ack = await hub.Clients.Client(connection).OpenConsole(new ConsoleDial(vmId, meeting.Nonce))
                .WaitAsync(options.Value.Console.AgentDialTimeout, http.RequestAborted);
        }
        catch (Exception e) when (e is TimeoutException or IOException or HubException)
        {
            log.LogWarning("The agent of host {Host} did not take the console of {Vm}: {Message}", vm.HostId, vmId, e.Message);
            http.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            return;
        }

        if (!ack.Accepted)
        {
            log.LogWarning("Agent refused the console of {Vm}: {Reason}", vmId, ack.Refusal);
            http.Response.StatusCode = StatusCodes.Status409Conflict;
            return;
        }

        WebSocket agentSocket;
        try
        {
            agentSocket = await meeting.AgentSocket.WaitAsync(options.Value.Console.AgentDialTimeout, http.RequestAborted);
        }
        catch (TimeoutException)
        {
            log.LogWarning("The agent of host {Host} did not dial back for the console of {Vm}", vm.HostId, vmId);
            http.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
            return;
        }

        // Echo a subprotocol only if the browser offered one (noVNC may offer "binary" or none).
        var offered = http.WebSockets.WebSocketRequestedProtocols;
        var protocol = offered.Contains("binary") ? "binary" : null;
        using var browser = await http.WebSockets.AcceptWebSocketAsync(protocol);
        await SocketSplice.RunAsync(browser, agentSocket, http.RequestAborted);
    }

    private static async Task AgentAsync(string nonce, HttpContext http, ConsoleRendezvous rendezvous)
    {
        if (!http.WebSockets.IsWebSocketRequest || rendezvous.Arrive(nonce) is not { } meeting)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        meeting.AgentArrived(socket);
        await meeting.Ended;
    }
}
