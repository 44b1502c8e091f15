using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Paddock.Engine.GuestAgent;

namespace Paddock.Unit.Engine.GuestAgent;

/// <summary>
/// A canned-reply guest agent on one end of a connected unix socket pair, driven line by line by the
/// test; <see cref="Client"/> talks to it over the other end, through <see cref="ClientStream"/>.
/// </summary>
internal sealed class FakeGuestAgent : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private FakeGuestAgent(Socket socket, CountingStream clientStream, GuestAgentOptions? options)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        ClientStream = clientStream;
        Client = new GuestAgentClient(clientStream, options);
    }

    public GuestAgentClient Client { get; }

    /// <summary>The client's side of the socket, counting what the client read.</summary>
    public CountingStream ClientStream { get; }

    public static async Task<FakeGuestAgent> StartAsync(GuestAgentOptions? options = null)
    {
        // Short: sun_path holds 107 bytes.
        var path = Path.Join(Path.GetTempPath(), $"pga-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
            var agent = await listener.AcceptAsync();
            return new FakeGuestAgent(agent, new CountingStream(new NetworkStream(client, ownsSocket: true)), options);
        }
        catch
        {
            client.Dispose();
            throw;
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The next line the client sent: whether the sentinel (0xFF) came before it, and the command.</summary>
    public async Task<(bool Sentinel, JsonElement Command)> ReceiveAsync()
    {
        var line = await ReadLineAsync();
        var sentinel = line.Length > 0 && line[0] == 0xFF;
        return (sentinel, JsonDocument.Parse(sentinel ? line[1..] : line).RootElement.Clone());
    }

    /// <summary>Receives guest-sync-delimited, checks the sentinel came first and, unless told not to, answers as qemu-ga does.</summary>
    public async Task<long> AnswerSyncAsync(string? before = null, bool answer = true)
    {
        var (sentinel, sync) = await ReceiveAsync();
        Assert.True(sentinel, "the client sends 0xFF before guest-sync-delimited");
        Assert.Equal("guest-sync-delimited", sync.GetProperty("execute").GetString());
        var id = sync.GetProperty("arguments").GetProperty("id").GetInt64();
        if (answer)
            await SendRawAsync([.. Encoding.UTF8.GetBytes(before ?? ""), 0xFF, .. Encoding.UTF8.GetBytes($$"""{"return": {{id}}}""" + "\n")]);
        return id;
    }

    /// <summary>Answers the sync, then receives the next command and checks its name; no reply.</summary>
    public async Task<JsonElement> ReceiveCommandAsync(string name)
    {
        await AnswerSyncAsync();
        var (sentinel, command) = await ReceiveAsync();
        Assert.False(sentinel);
        Assert.Equal(name, command.GetProperty("execute").GetString());
        return command;
    }

    /// <summary>Answers the sync and command <paramref name="name"/> with <paramref name="returnJson"/>; returns the command.</summary>
    public async Task<JsonElement> ExpectAsync(string name, string returnJson = "{}")
    {
        var command = await ReceiveCommandAsync(name);
        await SendAsync($$"""{"return": {{returnJson}}}""");
        return command;
    }

    /// <summary>Sends one line, LF-terminated as qemu-ga does.</summary>
    public Task SendAsync(string line) => SendRawAsync(Encoding.UTF8.GetBytes(line + "\n"));

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Ends the agent's side: the client reads end of file.</summary>
    public void Close() => _socket.Shutdown(SocketShutdown.Both);

    private async Task<byte[]> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (true)
        {
            var at = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (at >= 0)
            {
                var line = _buffer[_start..at];
                _start = at + 1;
                return line;
            }
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), timeout.Token);
            if (read == 0)
                throw new EndOfStreamException("client closed");
            _end += read;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _stream.DisposeAsync();
    }
}

/// <summary>A stream that counts the bytes read through it: how a test sees that the client read no more than its bounds.</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    private long _bytesRead;

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        Interlocked.Add(ref _bytesRead, read);
        return read;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, count);
        Interlocked.Add(ref _bytesRead, read);
        return read;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }
}
