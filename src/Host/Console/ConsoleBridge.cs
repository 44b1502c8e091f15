using System.Net.Sockets;
using System.Net.WebSockets;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Vms;

namespace Paddock.Host.Console;

/// <summary>
/// One console session: the agent dials a binary WebSocket back to the portal (the host needs no
/// inbound port) and splices it to the VM's VNC or serial unix socket, which only the agent can
/// open, or sends the serial log down it.
/// </summary>
public sealed class ConsoleBridge(IOptions<AgentOptions> options, Portal.AgentCredential credential, Portal.PortalTrust trust, ILogger<ConsoleBridge> log)
{
    public CommandAck Accept(ConsoleDial dial)
    {
        var paths = VmPaths.For(options.Value.VmsDir, dial.VmId);
        var source = Source(dial.Kind, paths);
        if (!File.Exists(source))
        {
            return CommandAck.Refuse(Guid.Empty, dial.Kind == ConsoleKind.SerialLog ? "The VM has no serial log yet." : "The VM is not running on this host.");
        }

        _ = Task.Run(() => RunAsync(dial, source));
        return CommandAck.Accept(Guid.Empty);
    }

    private static string Source(ConsoleKind kind, VmPaths paths) => kind switch
    {
        ConsoleKind.Vnc => paths.VncSocket,
        ConsoleKind.Serial => paths.SerialSocket,
        _ => paths.SerialLog,
    };

    private static async Task<Stream> OpenAsync(ConsoleKind kind, string source)
    {
        if (kind == ConsoleKind.SerialLog)
        {
            // QEMU keeps appending while we read: what was there when the download began is sent.
            return new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 64 * 1024, useAsync: true);
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(source));
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task RunAsync(ConsoleDial dial, string source)
    {
        try
        {
            await using var target = await OpenAsync(dial.Kind, source);

            using var portal = new ClientWebSocket();
            portal.Options.SetRequestHeader("Authorization", $"Bearer {await credential.GetAsync()}");
            trust.Apply(portal.Options);
            var baseUri = new Uri(options.Value.PortalUrl);
            var scheme = baseUri.Scheme == Uri.UriSchemeHttps ? "wss" : "ws";
            var meeting = new UriBuilder(baseUri) { Scheme = scheme, Path = $"/console/agent/{Uri.EscapeDataString(dial.Nonce)}" }.Uri;
            using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await portal.ConnectAsync(meeting, connect.Token);
            log.LogInformation("{Kind} console session for VM {Vm} open", dial.Kind, dial.VmId);

            using var stop = new CancellationTokenSource();
            var toPortal = PumpToWebSocketAsync(target, portal, stop.Token);
            var toTarget = dial.Kind == ConsoleKind.SerialLog ? Task.Delay(Timeout.Infinite, stop.Token) : PumpToStreamAsync(portal, target, stop.Token);
            var ended = await Task.WhenAny(toPortal, toTarget);
            log.LogInformation("{Kind} console session for VM {Vm} ended by the {Side} side", dial.Kind, dial.VmId, ended == toPortal ? "VM" : "portal");
            await stop.CancelAsync();
            if (portal.State == WebSocketState.Open)
            {
                using var close = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await portal.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "source closed", close.Token).ContinueWith(_ => { }, CancellationToken.None);
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
