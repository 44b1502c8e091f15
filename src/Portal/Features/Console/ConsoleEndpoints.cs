using System.Net.WebSockets;
using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

public sealed record ConsoleTicketResponse(string Ticket, string Path);

/// <summary>
/// The console relay. The browser's socket is admitted only for a user who may use the VM, from
/// the portal's own Origin (CVE-2015-0259), with a live single-use ticket for that kind of console.
/// The agent then dials a binary WebSocket back for this session and the two are spliced: no VNC
/// or serial port on any network, no console bytes in SignalR messages.
/// </summary>
public static class ConsoleEndpoints
{
    public static string SocketPath(Guid vmId, string ticket, ConsoleKind kind = ConsoleKind.Vnc, bool shared = false) =>
        $"/console/{vmId}/{(shared ? "view" : kind == ConsoleKind.Serial ? "serial" : "ws")}?ticket={Uri.EscapeDataString(ticket)}";

    public static void MapConsoleEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/vms/{vmId:guid}/console-ticket", async (Guid vmId, string? kind, HttpContext http, IDocumentStore store, ConsoleTickets tickets) =>
        {
            var wanted = string.Equals(kind, "serial", StringComparison.OrdinalIgnoreCase) ? ConsoleKind.Serial : ConsoleKind.Vnc;
            if (await ConsoleVmAsync(store, http, vmId) is (null, var refused))
            {
                return refused!;
            }

            var ticket = await tickets.IssueAsync(http.User.UserId(), vmId, wanted, http.RequestAborted);
            return Results.Ok(new ConsoleTicketResponse(ticket, SocketPath(vmId, ticket, wanted)));
        }).RequireAuthorization().AddEndpointFilter(ApiAnswers.RequireApiHeader).WithMetadata(new NotForApiTokens()).WithTags("Consoles")
            .WithSummary("A single-use ticket for the VM's console socket (kind vnc or serial): signed-in sessions only, never an API token.").Produces<ConsoleTicketResponse>();

        app.Map("/console/{vmId:guid}/ws", (Guid vmId, HttpContext http) => BrowserAsync(vmId, ConsoleKind.Vnc, shared: false, http)).RequireAuthorization();
        app.Map("/console/{vmId:guid}/serial", (Guid vmId, HttpContext http) => BrowserAsync(vmId, ConsoleKind.Serial, shared: false, http)).RequireAuthorization();
        app.Map("/console/{vmId:guid}/view", (Guid vmId, HttpContext http) => BrowserAsync(vmId, ConsoleKind.Vnc, shared: true, http)).RequireAuthorization();
        app.MapGet("/api/vms/{vmId:guid}/serial-log", SerialLogAsync).RequireAuthorization().WithTags("Consoles")
            .WithSummary("The VM's whole serial log, as a plain-text download.").Produces<string>(200, "text/plain");
        app.Map("/console/agent/{nonce}", AgentAsync).RequireAuthorization(AgentAuthentication.Policy);
    }

    /// <param name="shared">The view-only socket of a share link: its ticket, not the VM's rights, admits; the browser only watches.</param>
    private static async Task BrowserAsync(Guid vmId, ConsoleKind kind, bool shared, HttpContext http)
    {
        var relay = http.RequestServices.GetRequiredService<ConsoleRelay>();
        if (!http.WebSockets.IsWebSocketRequest)
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        var origin = http.Request.Headers.Origin.ToString();
        if (!string.Equals(origin, $"{http.Request.Scheme}://{http.Request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            relay.Log.LogWarning("Console for {Vm} refused: Origin '{Origin}' is not the portal's", vmId, origin);
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            return;
        }

        var (vm, ticket, share) = await AdmitAsync(vmId, kind, shared, http);
        if (vm is null)
        {
            return;
        }

        var (meeting, agentSocket, status, refusal, preface) = await relay.TakeOrDialAsync(ticket!, vm, kind, http.RequestAborted);
        using (meeting)
        {
            if (agentSocket is null)
            {
                // A browser sees only a socket that closed (its page asks ConsoleRefusals why); an API client reads this.
                await Results.Problem(statusCode: status, title: refusal ?? "The VM's host cannot open this console now.")
                    .ExecuteAsync(http);
                return;
            }

            // Echo a subprotocol only if the browser offered one (noVNC may offer "binary" or none).
            var protocol = http.WebSockets.WebSocketRequestedProtocols.Contains("binary") ? "binary" : null;
            using var browser = await http.WebSockets.AcceptWebSocketAsync(protocol);
            var viewer = new ConsoleViewer
            {
                Id = ConsoleTickets.IdOf(ticket!), VmId = vm.Id, UserId = http.User.UserId(), UserName = http.User.Identity?.Name ?? "",
                Kind = kind, ViewOnly = share is not null, ShareId = share?.Id, Address = http.Connection.RemoteIpAddress?.ToString() ?? "",
            };
            var (token, registration) = http.RequestServices.GetRequiredService<ConsoleSessions>().Open(
                viewer, http.User, StillAdmitted(http, vm.Id, share), vm.Settings.ConsoleSharing == ConsoleSharing.TakeOver, http.RequestAborted);
            await using (registration)
            {
                // A view-only viewer's browser is not trusted to stay view-only: what it sends is filtered here.
                var viewOnly = share is null ? null : new RfbViewOnly(afterHandshake: preface is not null);
                if (preface is null || await HandshakeAsync(preface, browser, agentSocket, viewOnly, relay.Log, token))
                {
                    await SocketSplice.RunAsync(browser, agentSocket, token, fromA: viewOnly is null ? null : bytes => viewOnly.Pass(bytes.Span));
                }
            }
        }
    }

    /// <summary>
    /// The screen's handshake with the browser, from the session the portal opened ahead
    /// (<see cref="RfbPreface"/>); what the browser sent after it goes on to the VM (through the
    /// view-only filter, if any). False when the browser closed, broke the protocol or went away,
    /// or did not finish within 30 s: its socket is then closed (a close it sent is answered) and the VM's cut.
    /// </summary>
    private static async Task<bool> HandshakeAsync(RfbPreface preface, WebSocket browser, WebSocket agent, RfbViewOnly? viewOnly, ILogger log, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            var rest = await preface.ServeAsync(browser, limit.Token);
            var passed = viewOnly is null ? rest : viewOnly.Pass(rest);
            if (passed.Length > 0)
            {
                await agent.SendAsync(passed, WebSocketMessageType.Binary, endOfMessage: true, limit.Token);
            }

            return true;
        }
        catch (Exception e) when (e is InvalidDataException or WebSocketException or OperationCanceledException)
        {
            log.LogInformation("A console handshake ended: {Message}", e.Message);
            agent.Abort();
            await SocketSplice.CloseQuietlyAsync(browser, e is InvalidDataException && browser.State == WebSocketState.Open
                ? WebSocketCloseStatus.ProtocolError : WebSocketCloseStatus.NormalClosure);
            return false;
        }
    }

    /// <summary>
    /// The VM, the ticket and the share link (if the socket is a share's) when the browser may open
    /// this console; otherwise the refusal has been answered and the VM is null.
    /// </summary>
    private static async Task<(Vm? Vm, string? Ticket, ConsoleShare? Share)> AdmitAsync(Guid vmId, ConsoleKind kind, bool shared, HttpContext http)
    {
        var store = http.RequestServices.GetRequiredService<IDocumentStore>();
        var log = http.RequestServices.GetRequiredService<ConsoleRelay>().Log;
        Vm? vm = null;
        if (!shared)
        {
            (vm, var refused) = await ConsoleVmAsync(store, http, vmId);
            if (vm is null)
            {
                await refused!.ExecuteAsync(http);
                return default;
            }
        }

        var ticket = http.Request.Query["ticket"].ToString();
        var consumed = await http.RequestServices.GetRequiredService<ConsoleTickets>().ConsumeAsync(ticket, http.User.UserId(), vmId, kind, shared, http.RequestAborted);
        var share = consumed?.ShareId is { } shareId && await http.RequestServices.GetRequiredService<ConsoleShares>().LiveAsync(shareId, http.RequestAborted) is { } live
            && live.VmId == vmId ? live : null;
        if (shared && share is not null)
        {
            await using var session = store.QuerySession();
            vm = await session.LoadAsync<Vm>(vmId, http.RequestAborted);
        }

        if (consumed is null || (shared && (share is null || vm is null)))
        {
            log.LogWarning("Console for {Vm} refused: ticket missing, used, expired, for another console or not this user's, or its share link is over", vmId);
            http.Response.StatusCode = StatusCodes.Status403Forbidden;
            return default;
        }

        return (vm, ticket, share);
    }

    /// <summary>Asked at every check of the session: why the viewer may no longer watch, or null while they may.</summary>
    private static Func<CancellationToken, Task<string?>> StillAdmitted(HttpContext http, Guid vmId, ConsoleShare? share)
    {
        var services = http.RequestServices;
        var user = http.User;
        if (share is not null)
        {
            return async ct => await services.GetRequiredService<ConsoleShares>().LiveAsync(share.Id, ct) is null ? "The share link was revoked or has expired." : null;
        }

        return async ct =>
        {
            await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
            return (await VmRights.FindForAsync(session, user, vmId, VmAction.Console, ct)).Vm is null ? "Your access to this VM ended." : null;
        };
    }

    /// <summary>The serial port's whole log, as a download, for those who may use the VM.</summary>
    private static async Task SerialLogAsync(Guid vmId, HttpContext http, IDocumentStore store, ConsoleRelay relay)
    {
        var (vm, refused) = await ConsoleVmAsync(store, http, vmId);
        if (vm is null)
        {
            await refused!.ExecuteAsync(http);
            return;
        }

        var (meeting, agentSocket, status, refusal, _) = await relay.DialAsync(vm, ConsoleKind.SerialLog, http.RequestAborted);
        using (meeting)
        {
            if (agentSocket is null)
            {
                await Results.Problem(statusCode: status, title: refusal ?? "The VM's host cannot send its serial log now.")
                    .ExecuteAsync(http);
                return;
            }

            // Guest output is hostile text: served as a plain-text attachment, never rendered as a page.
            http.Response.ContentType = "text/plain; charset=utf-8";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"serial-{vm.Id}.log\"";
            http.Response.Headers.XContentTypeOptions = "nosniff";
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var received = await agentSocket.ReceiveAsync(buffer, http.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                await http.Response.Body.WriteAsync(buffer.AsMemory(0, received.Count), http.RequestAborted);
            }
        }
    }

    /// <summary>The VM when the caller may open its consoles; otherwise the answer: 404 for a stranger, 403 with the reason for someone who sees it.</summary>
    private static async Task<(Vm? Vm, IResult? Refused)> ConsoleVmAsync(IDocumentStore store, HttpContext http, Guid vmId)
    {
        await using var session = store.QuerySession();
        return await VmRights.FindForAsync(session, http.User, vmId, VmAction.Console, http.RequestAborted) switch
        {
            ({ } vm, _) => (vm, null),
            (_, { } refusal) => (null, Results.Problem(statusCode: 403, title: refusal)),
            _ => (null, Results.Problem(statusCode: 404, title: "No such VM.")),
        };
    }

    private static async Task AgentAsync(string nonce, HttpContext http, ConsoleRendezvous rendezvous)
    {
        if (!http.WebSockets.IsWebSocketRequest || AgentAuthentication.HostOf(http.User) is not { } hostId || rendezvous.Arrive(nonce, hostId) is not { } meeting)
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        meeting.AgentArrived(socket);
        await meeting.Ended;
    }
}
