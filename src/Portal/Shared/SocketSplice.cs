using System.Net.WebSockets;

namespace Paddock.Portal.Shared;

/// <summary>
/// Copies binary frames both ways until both sides have closed. A side that closes has its close
/// passed on after the last of its bytes (a half-close), so a stream that ends (a migration's
/// memory, a log) arrives whole; the other way then has <see cref="Grace"/> to end too.
/// </summary>
public static class SocketSplice
{
    /// <summary>How long the other way may go on once one side has closed.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    /// <param name="bufferBytes">The largest piece copied at once: a bulk stream (a migration) goes faster in larger ones.</param>
    /// <param name="fromA">
    /// What of <paramref name="a"/>'s bytes reach <paramref name="b"/> (a view-only console's filter);
    /// all of them when null. An <see cref="InvalidDataException"/> from it ends the splice.
    /// </param>
    public static async Task RunAsync(WebSocket a, WebSocket b, CancellationToken ct, int bufferBytes = 64 * 1024, Func<ReadOnlyMemory<byte>, byte[]>? fromA = null)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var ways = new[] { PumpAsync(a, b, bufferBytes, stop.Token, fromA), PumpAsync(b, a, bufferBytes, stop.Token) };
        await Task.WhenAny(ways);
        stop.CancelAfter(Grace);
        await Task.WhenAll(ways);
        await Task.WhenAll(CloseQuietlyAsync(a), CloseQuietlyAsync(b));
    }

    private static async Task PumpAsync(WebSocket from, WebSocket to, int bufferBytes, CancellationToken ct, Func<ReadOnlyMemory<byte>, byte[]>? filter = null)
    {
        var buffer = new byte[bufferBytes];
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var result = await from.ReceiveAsync(buffer, ct);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // Sent after the last frame: the other side reads everything, then the close.
                    await to.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "the other side closed", ct);
                    return;
                }

                if (filter is null)
                {
                    await to.SendAsync(buffer.AsMemory(0, result.Count), WebSocketMessageType.Binary, result.EndOfMessage, ct);
                }
                else if (filter(buffer.AsMemory(0, result.Count)) is { Length: > 0 } passed)
                {
                    await to.SendAsync(passed, WebSocketMessageType.Binary, endOfMessage: true, ct);
                }
            }
        }
        catch (InvalidDataException)
        {
            // The filter could not read what came: that side is cut off at once, so the other way ends too.
            from.Abort();
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // One side went away (or the grace ran out): this way ends.
        }
    }

    /// <summary>Closes <paramref name="socket"/> if it is still open (answering a close it received), within 2 s; aborts it otherwise.</summary>
    public static async Task CloseQuietlyAsync(WebSocket socket, WebSocketCloseStatus status = WebSocketCloseStatus.NormalClosure)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await socket.CloseOutputAsync(status, "splice closed", timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            socket.Abort();
        }
    }
}
