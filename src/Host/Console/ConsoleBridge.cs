using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Vms;

namespace Paddock.Host.Console;

/// <summary>
/// One console session: the agent dials a binary WebSocket back to the portal (the host needs no
/// inbound port) and splices it to the VM's VNC unix socket, which only the agent can open.
/// </summary>
public sealed class ConsoleBridge(IOptions<AgentOptions> options, ILogger<ConsoleBridge> log)
{
    public CommandAck Accept(ConsoleDial dial)
    {
        var paths = VmPaths.For(options.Value.VmsDir, dial.VmId);
        if (!File.Exists(paths.VncSocket))
        {
            return CommandAck.Refuse(Guid.Empty, "The VM is not running on this host.");
        }

        _ = Task.Run(() => RunAsync(dial, paths));
        return CommandAck.Accept(Guid.Empty);
    }

    private async Task RunAsync(ConsoleDial dial, VmPaths paths)
    {
        try
        {
            using var vnc = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await vnc.ConnectAsync(new UnixDomainSocketEndPoint(paths.VncSocket));
            await using var vncStream = new NetworkStream(vnc, ownsSocket: false);

            using var portal = new ClientWebSocket();
            portal.Options.SetRequestHeader("Authorization", $"Bearer {options.Value.JoinToken}");
            var baseUri = new Uri(options.Value.PortalUrl);
            var scheme = baseUri.Scheme == Uri.UriSchemeHttps ? "wss" : "ws";
            var target = new UriBuilder(baseUri) { Scheme = scheme, Path = $"/console/agent/{Uri.EscapeDataString(dial.Nonce)}" }.Uri;
            using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await portal.ConnectAsync(target, connect.Token);

            using var stop = new CancellationTokenSource();
            var toPortal = PumpToWebSocketAsync(vncStream, portal, stop.Token);
            var toVnc = PumpToStreamAsync(portal, vncStream, stop.Token);
            await Task.WhenAny(toPortal, toVnc);
            await stop.CancelAsync();
            if (portal.State == WebSocketState.Open)
            {
                using var close = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await portal.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "vnc closed", close.Token).ContinueWith(_ => { }, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is SocketException or WebSocketException or IOException or OperationCanceledException)
        {
            log.LogWarning("Console session for VM {Vm} ended: {Message}", dial.VmId, e.Message);
        }
    }

    private static async Task PumpToWebSocketAsync(Stream from, WebSocket to, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, ct)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, true, ct);
            }
        }
        catch (Exception e) when (e is IOException or WebSocketException or OperationCanceledException)
        {
        }
    }

    private static async Task PumpToStreamAsync(WebSocket from, Stream to, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var result = await from.ReceiveAsync(buffer, ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, result.Count), ct);
            }
        }
        catch (Exception e) when (e is IOException or WebSocketException or OperationCanceledException)
        {
        }
    }
}
