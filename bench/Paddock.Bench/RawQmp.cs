using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Paddock.Bench;

/// <summary>
/// QMP as a person at a socket speaks it: one JSON object per line out, replies matched by id,
/// every event kept with QEMU's timestamp. No Paddock code in between; for the bare side of benchmarks.
/// </summary>
public sealed class RawQmp : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly List<(string Name, JsonElement Data, DateTimeOffset At)> _events = [];
    private readonly SemaphoreSlim _eventArrived = new(0);
    private readonly Task _reader;
    private long _lastId;

    private RawQmp(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>Connects (retrying while QEMU starts), then leaves capabilities negotiation.</summary>
    public static async Task<RawQmp> ConnectAsync(string socketPath, CancellationToken ct)
    {
        Socket? socket = null;
        await Wait.UntilAsync(async () =>
        {
            var attempt = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await attempt.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                socket = attempt;
                return true;
            }
            catch (SocketException)
            {
                attempt.Dispose();
                return false;
            }
        }, TimeSpan.FromSeconds(30), $"QMP at {socketPath}", ct, poll: TimeSpan.FromMilliseconds(10));
        var qmp = new RawQmp(socket!);
        await qmp.ExecuteAsync("qmp_capabilities", null, ct);
        return qmp;
    }

    /// <summary>Sends <paramref name="command"/> and returns its <c>return</c>; a QMP error throws.</summary>
    public async Task<JsonElement> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        var id = Interlocked.Increment(ref _lastId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var message = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments is not null)
        {
            message["arguments"] = arguments;
        }

        await _stream.WriteAsync(Encoding.UTF8.GetBytes(message.ToJsonString() + "\n"), ct);
        return await reply.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
    }

    /// <summary>The first event <paramref name="name"/> (at or after index <paramref name="from"/>) that <paramref name="match"/> accepts.</summary>
    public async Task<(JsonElement Data, DateTimeOffset At)> WaitForEventAsync(string name, TimeSpan within, CancellationToken ct, Func<JsonElement, bool>? match = null, int from = 0)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(within);
        while (true)
        {
            lock (_events)
            {
                foreach (var e in _events.Skip(from))
                {
                    if (e.Name == name && (match is null || match(e.Data)))
                    {
                        return (e.Data, e.At);
                    }
                }
            }

            try
            {
                await _eventArrived.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"No {name} event within {within.TotalSeconds:0} s.");
            }
        }
    }

    /// <summary>How many events have arrived so far: a mark for <see cref="WaitForEventAsync"/>'s <c>from</c>.</summary>
    public int EventCount
    {
        get
        {
            lock (_events)
            {
                return _events.Count;
            }
        }
    }

    private async Task ReadAsync()
    {
        using var reader = new StreamReader(_stream, Encoding.UTF8);
        while (await reader.ReadLineAsync() is { } line)
        {
            var message = JsonDocument.Parse(line).RootElement.Clone();
            if (message.TryGetProperty("event", out var name))
            {
                var stamp = message.GetProperty("timestamp");
                var at = DateTimeOffset.FromUnixTimeMilliseconds(stamp.GetProperty("seconds").GetInt64() * 1000)
                    .AddTicks(stamp.GetProperty("microseconds").GetInt64() * 10);
                lock (_events)
                {
                    _events.Add((name.GetString()!, message.TryGetProperty("data", out var data) ? data : default, at));
                }

                _eventArrived.Release();
            }
            else if (message.TryGetProperty("id", out var id) && _pending.TryRemove(id.GetInt64(), out var reply))
            {
                if (message.TryGetProperty("error", out var error))
                {
                    reply.SetException(new InvalidOperationException($"QMP error: {error}"));
                }
                else
                {
                    reply.SetResult(message.GetProperty("return"));
                }
            }
        }

        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new IOException("QMP closed."));
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // QEMU went first.
        }

        _socket.Dispose();
        try
        {
            await _reader;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            // The socket was closed under the reader: that is how it ends.
        }

        await _stream.DisposeAsync();
        _eventArrived.Dispose();
    }
}
