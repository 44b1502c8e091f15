using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;

namespace Paddock.Portal.Features.Console;

/// <summary>
/// The RFB handshake (RFC 6143, 7.1 to 7.3) done ahead of the browser. As soon as the agent's socket
/// to the VM's VNC server arrives, the portal opens the session as a client (<see cref="OpenAsync"/>:
/// RFB 3.8, security None, shared) and keeps the server's ServerInit. When the browser comes, the
/// portal plays the server's part of the handshake from what it kept (<see cref="ServeAsync"/>).
/// The handshake's round trips then stay between the browser and the portal, and only the pixels
/// cross to the agent: the console reaches its first frame sooner (issue #21). The VM's session is
/// always shared, whatever the browser's ClientInit asks: a take-over is the portal's
/// (<see cref="ConsoleSessions"/>), and a view-only viewer never ends another's session.
/// Both sides are read in fixed, bounded pieces: QEMU's side is the VM's, the browser's is anyone's.
/// </summary>
public sealed class RfbPreface
{
    public const string Version38 = "RFB 003.008\n";

    /// <summary>The longest desktop name taken from the VM's server (QEMU's is "QEMU (name)").</summary>
    public const int MaxName = 4096;

    private const byte SecurityNone = 1;

    private readonly byte[] _serverInit;
    private readonly byte[] _vmRest;

    private RfbPreface(byte[] serverInit, byte[] vmRest, DateTimeOffset at) => (_serverInit, _vmRest, At) = (serverInit, vmRest, at);

    /// <summary>When the VM's server sent its ServerInit: the desktop size in it is as of then.</summary>
    public DateTimeOffset At { get; }

    /// <summary>Opens the VM's session through the agent's socket; <see cref="InvalidDataException"/> when its server does not speak as QEMU's does.</summary>
    public static async Task<RfbPreface> OpenAsync(WebSocket vm, TimeProvider clock, CancellationToken ct)
    {
        var reader = new SocketReader(vm, MaxName + 1024);
        var version = Encoding.ASCII.GetString(await reader.ReadAsync(12, ct));
        if (version != Version38)
        {
            throw new InvalidDataException($"The VM's VNC server speaks '{Printable(version)}', not RFB 3.8.");
        }

        await SendAsync(vm, Encoding.ASCII.GetBytes(Version38), ct);
        var count = (await reader.ReadAsync(1, ct))[0];
        if (count == 0)
        {
            throw new InvalidDataException("The VM's VNC server refused the session.");
        }

        if (!(await reader.ReadAsync(count, ct)).Contains(SecurityNone))
        {
            throw new InvalidDataException("The VM's VNC server asks for a password: the portal's relay takes only servers without one.");
        }

        await SendAsync(vm, [SecurityNone], ct);
        if (BinaryPrimitives.ReadUInt32BigEndian(await reader.ReadAsync(4, ct)) != 0)
        {
            throw new InvalidDataException("The VM's VNC server refused the session.");
        }

        // ClientInit: shared.
        await SendAsync(vm, [1], ct);
        var head = await reader.ReadAsync(24, ct);
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(20));
        if (nameLength > MaxName)
        {
            throw new InvalidDataException($"The VM's VNC server gave a desktop name of {nameLength} bytes; at most {MaxName}.");
        }

        var name = await reader.ReadAsync((int)nameLength, ct);
        return new RfbPreface([.. head, .. name], reader.TakeRest(), clock.GetUtcNow());
    }

    /// <summary>
    /// Plays the server's handshake to the browser (RFB 3.3, 3.7 or 3.8; security None only) and
    /// sends the kept ServerInit; returns what the browser sent after its ClientInit, for the VM.
    /// <see cref="InvalidDataException"/> when the browser does not follow the protocol.
    /// </summary>
    public async Task<byte[]> ServeAsync(WebSocket browser, CancellationToken ct)
    {
        await SendAsync(browser, Encoding.ASCII.GetBytes(Version38), ct);
        var reader = new SocketReader(browser, 64 * 1024);
        var version = Encoding.ASCII.GetString(await reader.ReadAsync(12, ct));
        switch (version)
        {
            case "RFB 003.003\n":
                // 3.3: the server names the security type.
                await SendAsync(browser, [0, 0, 0, SecurityNone], ct);
                break;
            case "RFB 003.007\n" or Version38:
                await SendAsync(browser, [1, SecurityNone], ct);
                if ((await reader.ReadAsync(1, ct))[0] != SecurityNone)
                {
                    throw new InvalidDataException("The browser chose a security type the console does not offer.");
                }

                if (version == Version38)
                {
                    // SecurityResult: OK (3.7 sends none for None).
                    await SendAsync(browser, [0, 0, 0, 0], ct);
                }

                break;
            default:
                throw new InvalidDataException($"The browser speaks '{Printable(version)}', not RFB 3.3, 3.7 or 3.8.");
        }

        // ClientInit: its shared flag is not passed on (see the class).
        await reader.ReadAsync(1, ct);
        await SendAsync(browser, [.. _serverInit, .. _vmRest], ct);
        return reader.TakeRest();
    }

    private static Task SendAsync(WebSocket socket, byte[] bytes, CancellationToken ct) =>
        socket.SendAsync(bytes, WebSocketMessageType.Binary, endOfMessage: true, ct);

    private static string Printable(string text) => new([.. text.TrimEnd('\n').Select(c => c is >= ' ' and <= '~' ? c : '?')]);

    /// <summary>Exact byte counts from a WebSocket's binary messages, however they are cut, up to <paramref name="limit"/> bytes in all.</summary>
    private sealed class SocketReader(WebSocket socket, int limit)
    {
        private readonly byte[] _buffer = new byte[limit];
        private int _start;
        private int _end;

        public async Task<byte[]> ReadAsync(int count, CancellationToken ct)
        {
            while (_end - _start < count)
            {
                if (_end == _buffer.Length)
                {
                    throw new InvalidDataException($"More than {limit} bytes before the handshake ended.");
                }

                var received = await socket.ReceiveAsync(_buffer.AsMemory(_end), ct);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidDataException("The other side closed during the handshake.");
                }

                _end += received.Count;
            }

            var piece = _buffer[_start..(_start + count)];
            _start += count;
            return piece;
        }

        /// <summary>What came after the last piece read.</summary>
        public byte[] TakeRest() => _buffer[_start.._end];
    }
}
