using System.Net.WebSockets;
using Microsoft.Extensions.Options;

namespace Paddock.Host.Portal;

/// <summary>
/// Binary WebSockets the agent dials to the portal it is configured with (never an address a message
/// names, unless its settings list that address too: <see cref="AgentOptions.PortalAddresses"/>), with its
/// host credential and the portal's pinned certificate: consoles and migration channels run through
/// them, so a host needs no inbound port.
/// </summary>
public sealed class PortalSockets(IOptions<AgentOptions> options, AgentCredential credential, PortalTrust trust)
{
    private static readonly TimeSpan ConnectWithin = TimeSpan.FromSeconds(15);

    /// <summary>Whether the agent may dial <paramref name="portal"/> (null: its own portal address).</summary>
    public bool MayDial(string? portal) =>
        portal is null || Origin(portal) is { } origin
            && options.Value.PortalAddresses.Append(options.Value.PortalUrl).Select(Origin).Contains(origin, StringComparer.OrdinalIgnoreCase);

    /// <summary>Opens <paramref name="path"/> on the portal, or on <paramref name="portal"/> when <see cref="MayDial"/> allows it.</summary>
    public async Task<ClientWebSocket> DialAsync(string path, CancellationToken ct, string? portal = null)
    {
        if (!MayDial(portal))
        {
            throw new IOException($"This agent does not dial {portal}: it is not among its portal addresses (Agent:PortalAddresses).");
        }

        var socket = new ClientWebSocket();
        try
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {await credential.GetAsync(ct)}");
            trust.Apply(socket.Options);
            var target = new Uri(portal ?? options.Value.PortalUrl);
            var scheme = target.Scheme == Uri.UriSchemeHttps ? "wss" : "ws";
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
            connect.CancelAfter(ConnectWithin);
            await socket.ConnectAsync(new UriBuilder(target) { Scheme = scheme, Path = path }.Uri, connect.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Scheme, host and port of an absolute http(s) address; null for anything else.</summary>
    private static string? Origin(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? uri.GetLeftPart(UriPartial.Authority)
            : null;

    /// <summary>How long the other way may go on once one side has closed.</summary>
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Copies <paramref name="local"/> to the portal and (unless <paramref name="oneWay"/>) back until
    /// both sides have ended. A side that ends is passed on as a half-close after its last byte (a
    /// WebSocket close, or the end of what <paramref name="local"/> is sent), so a stream arrives
    /// whole; the other way then has a few seconds to end too. Returns true when the local side ended first.
    /// </summary>
    public static async Task<bool> SpliceAsync(Stream local, WebSocket portal, bool oneWay, CancellationToken ct, int bufferBytes = 64 * 1024)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var toPortal = PumpToPortalAsync(local, portal, bufferBytes, stop.Token);
        // One way (a log): it ends when the local side has sent everything.
        var toLocal = oneWay ? toPortal : PumpToLocalAsync(portal, local, bufferBytes, stop.Token);
        var ended = await Task.WhenAny(toPortal, toLocal);
        stop.CancelAfter(Grace);
        await Task.WhenAll(toPortal, toLocal);
        if (portal.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var close = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await portal.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "source closed", close.Token).ContinueWith(_ => { }, CancellationToken.None);
        }

        return ended == toPortal;
    }

    private static async Task PumpToPortalAsync(Stream from, WebSocket to, int bufferBytes, CancellationToken ct)
    {
        var buffer = new byte[bufferBytes];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, ct)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), WebSocketMessageType.Binary, true, ct);
            }

            await to.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "source closed", ct);
        }
        catch (Exception e) when (e is IOException or WebSocketException or OperationCanceledException)
        {
        }
    }

    private static async Task PumpToLocalAsync(WebSocket from, Stream to, int bufferBytes, CancellationToken ct)
    {
        var buffer = new byte[bufferBytes];
        try
        {
            while (true)
            {
                var result = await from.ReceiveAsync(buffer, ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // Nothing more comes: the local side reads its last bytes, then the end.
                    if (to is System.Net.Sockets.NetworkStream { Socket: { } socket })
                    {
                        socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
                    }

                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, result.Count), ct);
            }
        }
        catch (Exception e) when (e is IOException or WebSocketException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
        }
    }
}
