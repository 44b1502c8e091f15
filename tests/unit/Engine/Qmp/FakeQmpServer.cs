using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Paddock.Unit.Engine.Qmp;

/// <summary>A canned-reply QMP server on a unix socket, driven line by line by the test.</summary>
internal sealed class FakeQmpServer : IAsyncDisposable
{
    public const string Greeting = """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "test"}, "capabilities": ["oob"]}}""";

    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    /// <param name="listen">False binds the socket file without listening yet, as QEMU does for a moment at start: see <see cref="Listen"/>.</param>
    public FakeQmpServer(bool listen = true)
    {
        // Short: sun_path holds 107 bytes.
        SocketPath = Path.Join(Path.GetTempPath(), $"pq-{Guid.NewGuid():N}.sock");
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        if (listen)
        {
            Listen();
        }
    }

    public void Listen() => _listener.Listen(1);

    public string SocketPath { get; }

    public async Task<FakeQmpConnection> AcceptAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return new FakeQmpConnection(await _listener.AcceptAsync(timeout.Token));
    }

    /// <summary>A client past greeting and capabilities negotiation, and the server side of its connection.</summary>
    public static async Task<(FakeQmpServer Server, FakeQmpConnection Connection, Paddock.Engine.Qmp.QmpClient Client)> ConnectedAsync()
    {
        var server = new FakeQmpServer();
        var connecting = Paddock.Engine.Qmp.QmpClient.ConnectAsync(server.SocketPath);
        var connection = await server.AcceptAsync();
        await connection.SendAsync(Greeting);
        var capabilities = await connection.ReceiveAsync();
        Assert.Equal("qmp_capabilities", capabilities.GetProperty("execute").GetString());
        await connection.ReplyAsync(capabilities, "{}");
        return (server, connection, await connecting);
    }

    /// <summary><see cref="ConnectedAsync"/> as one thing to dispose.</summary>
    public static async Task<FakeQmpSession> SessionAsync()
    {
        var (server, connection, client) = await ConnectedAsync();
        return new FakeQmpSession(server, connection, client);
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        File.Delete(SocketPath);
        await Task.CompletedTask;
    }
}

/// <summary>A connected client and the server side of its connection, disposed together.</summary>
internal sealed record FakeQmpSession(FakeQmpServer Server, FakeQmpConnection Connection, Paddock.Engine.Qmp.QmpClient Client) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}

internal sealed class FakeQmpConnection(Socket socket) : IAsyncDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: true);
    private StreamReader? _reader;

    private StreamReader Reader => _reader ??= new StreamReader(_stream, Encoding.UTF8, false, 1024, leaveOpen: true);

    /// <summary>The next command the client sent, parsed.</summary>
    public async Task<JsonElement> ReceiveAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var line = await Reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException("client closed");
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    /// <summary>Sends one line, CRLF-terminated as QEMU does unless <paramref name="newline"/> says otherwise.</summary>
    public Task SendAsync(string line, string newline = "\r\n") => SendRawAsync(line + newline);

    public async Task SendRawAsync(string text)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));
        await _stream.FlushAsync();
    }

    public Task ReplyAsync(JsonElement command, string returnJson) =>
        SendAsync($$"""{"return": {{returnJson}}, "id": {{command.GetProperty("id").GetRawText()}}}""");

    public Task ErrorAsync(JsonElement command, string desc, string errorClass = "GenericError") =>
        SendAsync($$"""{"error": {"class": "{{errorClass}}", "desc": "{{desc}}"}, "id": {{command.GetProperty("id").GetRawText()}}}""");

    /// <summary>Receives the next command, checks its name and answers it with <paramref name="returnJson"/>; returns the command.</summary>
    public async Task<JsonElement> ExpectAsync(string name, string returnJson = "{}")
    {
        var command = await ReceiveAsync();
        Assert.Equal(name, command.GetProperty("execute").GetString());
        await ReplyAsync(command, returnJson);
        return command;
    }

    /// <summary>Answers every <paramref name="name"/> with <paramref name="returnJson"/> until <paramref name="done"/> ends.</summary>
    public async Task AnswerUntilAsync(Task done, string name, string returnJson)
    {
        while (true)
        {
            var next = ReceiveAsync();
            if (await Task.WhenAny(next, done) == done)
            {
                return;
            }

            Assert.Equal(name, (await next).GetProperty("execute").GetString());
            await ReplyAsync(await next, returnJson);
        }
    }

    public Task EventAsync(string name, string dataJson = "{}") =>
        SendAsync($$"""{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "{{name}}", "data": {{dataJson}}}""");

    public void Close() => socket.Shutdown(SocketShutdown.Both);

    public async ValueTask DisposeAsync()
    {
        _reader?.Dispose();
        await _stream.DisposeAsync();
    }
}
