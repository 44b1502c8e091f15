using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Paddock.E2e;

/// <summary>What a hub invocation came to: a result, an error the hub sent, or the connection's end.</summary>
public sealed record HubAnswer(JsonNode? Result, string? Error, bool Closed)
{
    public override string ToString() => Closed ? $"connection closed ({Error})" : Error is not null ? $"error: {Error}" : $"result: {Result?.ToJsonString()}";
}

/// <summary>
/// A SignalR connection that speaks the JSON hub protocol by hand over a WebSocket, as a host's
/// credential: it sends whatever text it is given as an argument (wrong types, broken frames) where
/// the SignalR client would only send what serializes. Commands the portal sends it (client results)
/// are queued for the test and answered with what the test says.
/// </summary>
public sealed class RawHubConnection : IAsyncDisposable
{
    private const char Separator = '\u001e';
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<HubAnswer>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _sending = new(1, 1);
    private Task _reading = Task.CompletedTask;
    private Task _pinging = Task.CompletedTask;
    private int _nextId;

    /// <summary>What the portal invoked on this host (Execute, OpenConsole, ApplyHostSettings): target and arguments, for the test to take in turn.</summary>
    public Channel<(string Target, JsonArray Arguments)> Invoked { get; } = Channel.CreateUnbounded<(string, JsonArray)>();

    /// <summary>Everything the portal invoked on this host, taken or not.</summary>
    public ConcurrentQueue<(string Target, JsonArray Arguments)> Seen { get; } = new();

    /// <summary>What this host answers a command with; by default it refuses it.</summary>
    public Func<string, JsonArray, JsonNode?> Answer { get; set; } = (_, _) => null;

    /// <summary>What this host waits for before it answers an invocation: by default nothing (a half-dead agent waits long).</summary>
    public Func<string, JsonArray, Task> Hold { get; set; } = (_, _) => Task.CompletedTask;

    public string? ClosedWith { get; private set; }

    public bool IsOpen => ClosedWith is null && _socket.State == WebSocketState.Open;

    /// <param name="portalUrl">The portal process to dial: the first unless said otherwise.</param>
    public static async Task<RawHubConnection> ConnectAsync(PaddockFixture paddock, string credential, string? portalUrl = null)
    {
        var connection = new RawHubConnection();
        connection._socket.Options.SetRequestHeader("Authorization", $"Bearer {credential}");
        connection._socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData())) == paddock.CertificateSha256;
        var url = new UriBuilder(portalUrl ?? paddock.PortalUrl) { Scheme = "wss", Path = "/hubs/hosts" }.Uri;
        await connection._socket.ConnectAsync(url, CancellationToken.None);
        await connection.SendFrameAsync("{\"protocol\":\"json\",\"version\":1}" + Separator);
        var handshake = new TaskCompletionSource<HubAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection._pending["handshake"] = handshake;
        connection._reading = connection.ReadAsync();
        var answer = await handshake.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(answer.Error is null && !answer.Closed, $"handshake: {answer}");
        connection._pinging = connection.PingAsync();
        return connection;
    }

    /// <summary>Invokes <paramref name="target"/> with the arguments as JSON text (the inside of the arguments array).</summary>
    public async Task<HubAnswer> InvokeAsync(string target, string arguments, TimeSpan? within = null)
    {
        if (!IsOpen)
        {
            return new(null, ClosedWith, true);
        }

        var id = Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answer = new TaskCompletionSource<HubAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        if (!IsOpen && _pending.TryRemove(id, out _))
        {
            return new(null, ClosedWith, true);
        }

        await SendFrameAsync($"{{\"type\":1,\"invocationId\":\"{id}\",\"target\":{JsonValue.Create(target).ToJsonString()},\"arguments\":[{arguments}]}}{Separator}");
        try
        {
            return await answer.Task.WaitAsync(within ?? TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            _pending.TryRemove(id, out _);
            return new(null, "no answer in time", false);
        }
    }

    /// <summary>Sends text as it is: a frame the protocol may not allow.</summary>
    public async Task SendFrameAsync(string text)
    {
        await _sending.WaitAsync();
        try
        {
            await _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException)
        {
            End($"send failed: {e.Message}");
        }
        finally
        {
            _sending.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException or ObjectDisposedException)
            {
                // Gone already (the reader's cancel may have aborted it just now).
            }
        }

        await Task.WhenAll(_reading, _pinging).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        _socket.Dispose();
        _stop.Dispose();
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var received = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    End($"closed by the portal: {received.CloseStatus} {received.CloseStatusDescription}");
                    return;
                }

                text.Append(Encoding.UTF8.GetString(buffer, 0, received.Count));
                var all = text.ToString();
                var last = all.LastIndexOf(Separator);
                if (last < 0)
                {
                    continue;
                }

                text.Clear().Append(all[(last + 1)..]);
                foreach (var message in all[..last].Split(Separator))
                {
                    await HandleAsync(JsonNode.Parse(message)!.AsObject());
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            End($"socket ended: {e.Message}");
        }
    }

    private async Task HandleAsync(JsonObject message)
    {
        switch ((int?)message["type"])
        {
            case null when _pending.TryRemove("handshake", out var handshake):
                handshake.TrySetResult(new(null, (string?)message["error"], false));
                break;
            case 3 when _pending.TryRemove((string)message["invocationId"]!, out var pending):
                pending.TrySetResult(new(message["result"]?.DeepClone(), (string?)message["error"], false));
                break;
            case 1:
                var target = (string)message["target"]!;
                var arguments = message["arguments"]!.AsArray();
                Seen.Enqueue((target, (JsonArray)arguments.DeepClone()));
                await Invoked.Writer.WriteAsync((target, (JsonArray)arguments.DeepClone()));
                if ((string?)message["invocationId"] is { } id)
                {
                    // Answered on the side: a held answer must not stop this loop reading.
                    _ = AnswerAsync(id, target, arguments);
                }

                break;
            case 7:
                End($"close message: {(string?)message["error"]}");
                break;
        }
    }

    /// <summary>Answers an invocation with <see cref="Answer"/>, after <see cref="Hold"/> lets it.</summary>
    private async Task AnswerAsync(string id, string target, JsonArray arguments)
    {
        await Hold(target, arguments);
        var result = Answer(target, arguments);
        var reply = new JsonObject { ["type"] = 3, ["invocationId"] = id };
        reply[result is null ? "error" : "result"] = result ?? "this test host takes no commands";
        await SendFrameAsync(reply.ToJsonString() + Separator);
    }

    /// <summary>The portal drops a client it has not heard from for 30 s.</summary>
    private async Task PingAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested && IsOpen)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), _stop.Token);
                await SendFrameAsync("{\"type\":6}" + Separator);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private void End(string why)
    {
        ClosedWith ??= why;
        foreach (var (id, pending) in _pending)
        {
            if (_pending.TryRemove(id, out _))
            {
                pending.TrySetResult(new(null, why, true));
            }
        }
    }
}
