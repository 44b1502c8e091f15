using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Paddock.Engine.Qmp;

/// <summary>
/// The only code that speaks QMP (docs/interop/qmp-spec). One connection to one QEMU monitor socket.
/// </summary>
/// <remarks>
/// A single reader loop owns the socket's input and never blocks on a consumer: it completes
/// pending commands by <c>id</c> (replies may come in any order) and writes events into an
/// unbounded <see cref="Events"/> channel (QEMU rate-limits its chatty events, so the backlog
/// stays small even with a slow consumer). Sends are serialised by a lock. Every wait has a
/// timeout and a cancellation token. When the socket reaches end of file (QEMU is gone),
/// every pending command fails with <see cref="QmpConnectionClosedException"/>, <see cref="Events"/>
/// completes and <see cref="Completion"/> completes. Modelled on libvirt's qemu_monitor.c and
/// Proxmox's QMPClient.pm.
/// </remarks>
public sealed class QmpClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A reply larger than this is treated as a protocol error (query-qmp-schema is ~250 KB).</summary>
    internal const int MaxLineBytes = 32 * 1024 * 1024;

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<long, Pending> _pending = new();
    private readonly Channel<QmpEvent> _events = Channel.CreateUnbounded<QmpEvent>(new() { SingleWriter = true });
    private readonly TaskCompletionSource<JsonElement> _greeting = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _readLoop;
    private Exception? _closedBecause;
    private long _lastId;
    private int _disposed;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        // Callers need not await these; a fault nobody awaited must not surface as UnobservedTaskException.
        Observe(_completion.Task);
        Observe(_greeting.Task);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>The greeting's <c>QMP</c> object (<c>version</c>, <c>capabilities</c>).</summary>
    public JsonElement Greeting { get; private set; }

    /// <summary>Used by <see cref="ExecuteAsync"/> when the caller gives no timeout.</summary>
    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Events in arrival order. Completes at end of file; completes with the error after a protocol error.</summary>
    public ChannelReader<QmpEvent> Events => _events.Reader;

    /// <summary>
    /// Completes when the connection has ended: successfully on end of file or dispose (QEMU gone
    /// or closed), faulted with <see cref="QmpProtocolException"/> when QEMU sent something that is not QMP.
    /// </summary>
    public Task Completion => _completion.Task;

    public bool IsConnected => Volatile.Read(ref _closedBecause) is null;

    /// <summary>
    /// Connects to the monitor socket, reads the greeting and leaves capabilities negotiation
    /// mode (<c>qmp_capabilities</c>); before that QEMU answers every command with CommandNotFound.
    /// </summary>
    /// <remarks>QEMU serves one client per monitor socket; a second client waits without a greeting, which surfaces here as a timeout.</remarks>
    public static async Task<QmpClient> ConnectAsync(string socketPath, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var limit = timeout ?? DefaultConnectTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(limit);

        Socket socket;
        while (true)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && !deadline.IsCancellationRequested)
            {
                // bind(2) makes the socket file before listen(2) makes it take connections: a start
                // that saw the file may knock in between (unix(7)). Knock again until the deadline.
                socket.Dispose();
                try
                {
                    await Task.Delay(20, deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new QmpException($"Cannot connect to QMP socket '{socketPath}': {e.Message}", e);
                }
            }
            catch (Exception e)
            {
                socket.Dispose();
                if (e is OperationCanceledException && !ct.IsCancellationRequested)
                    throw new QmpTimeoutException("connect", limit, socketPath);
                if (e is SocketException)
                    throw new QmpException($"Cannot connect to QMP socket '{socketPath}': {e.Message}", e);
                throw;
            }
        }

        var client = new QmpClient(socket);
        try
        {
            var greeting = await client._greeting.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
            client.Greeting = greeting;
            await client.ExecuteAsync("qmp_capabilities", null, deadline.Token, limit).ConfigureAwait(false);
            return client;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new QmpTimeoutException("greeting", limit, "another client may hold the monitor: QEMU serves one at a time");
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="command"/> and returns its <c>return</c> value.
    /// <paramref name="arguments"/> is serialised with System.Text.Json (an anonymous object, a
    /// dictionary for names with '-', or a JsonNode).
    /// </summary>
    /// <exception cref="QmpErrorException">QEMU answered with an error.</exception>
    /// <exception cref="QmpTimeoutException">No reply within <paramref name="timeout"/> (or <see cref="DefaultTimeout"/>).</exception>
    /// <exception cref="QmpConnectionClosedException">The connection ended before the reply.</exception>
    /// <exception cref="QmpProtocolException">QEMU sent something that is not QMP.</exception>
    public async Task<JsonElement> ExecuteAsync(string command, object? arguments = null, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        var limit = timeout ?? DefaultTimeout;
        var request = Serialize(command, arguments, out var id);
        var pending = new Pending(command, new(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending[id] = pending;
        try
        {
            // Closing fails what is in _pending; a command registered after that sees the reason here.
            if (Volatile.Read(ref _closedBecause) is { } reason)
                throw Failure(command, reason);

            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(limit);
            try
            {
                await SendAsync(command, request, deadline.Token).ConfigureAwait(false);
                return await pending.Reply.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new QmpTimeoutException(command, limit);
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Close(new QmpConnectionClosedException("The QMP client was disposed."));
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop reports through Close; nothing left to observe.
        }
        await _input.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
        _stop.Dispose();
        _sendLock.Dispose();
    }

    private byte[] Serialize(string command, object? arguments, out long id)
    {
        id = Interlocked.Increment(ref _lastId);
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("execute", command);
            if (arguments is not null)
            {
                json.WritePropertyName("arguments");
                JsonSerializer.Serialize(json, arguments, arguments.GetType());
            }
            json.WriteNumber("id", id);
            json.WriteEndObject();
        }
        // Utf8JsonWriter escapes control characters, so the only newline is the terminator.
        return [.. buffer.WrittenSpan, (byte)'\n'];
    }

    private async Task SendAsync(string command, byte[] request, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            var reason = new QmpConnectionClosedException($"Sending '{command}' failed: {e.Message}", e);
            Close(reason);
            throw Failure(command, reason);
        }
        catch (OperationCanceledException)
        {
            // Part of the object may be on the wire; anything sent after it would be garbage to QEMU.
            Close(new QmpConnectionClosedException($"Sending '{command}' was interrupted; the connection was closed to keep the framing intact."));
            throw;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception reason;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(_stop.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                while (TryTakeLine(ref buffer, out var line))
                    Dispatch(line);
                if (buffer.Length > MaxLineBytes)
                    throw new QmpProtocolException($"QEMU sent a line longer than {MaxLineBytes} bytes.");
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    reason = new QmpConnectionClosedException("The QMP socket reached end of file: QEMU exited or closed the monitor.");
                    break;
                }
            }
        }
        catch (QmpProtocolException e)
        {
            reason = e;
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && _stop.IsCancellationRequested)
        {
            reason = new QmpConnectionClosedException("The QMP client was disposed.");
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = new QmpConnectionClosedException($"Reading the QMP socket failed: {e.Message}", e);
        }
        Close(reason);
    }

    private static bool TryTakeLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        // QEMU ends lines with CRLF; LF alone is accepted too (the JSON parser ignores the CR).
        var newline = buffer.PositionOf((byte)'\n');
        if (newline is null)
        {
            line = default;
            return false;
        }
        line = buffer.Slice(0, newline.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
        return true;
    }

    private void Dispatch(ReadOnlySequence<byte> line)
    {
        if (IsBlank(line))
            return;

        JsonElement message;
        try
        {
            // One value per line; the reader's defaults refuse anything after it.
            var reader = new Utf8JsonReader(line);
            using var document = JsonDocument.ParseValue(ref reader);
            message = document.RootElement.Clone();
            if (reader.Read())
                throw new JsonException("more than one JSON value on a line");
        }
        catch (JsonException e)
        {
            throw new QmpProtocolException($"QEMU sent malformed JSON ({e.Message}): {Excerpt(line)}", e);
        }

        if (message.ValueKind != JsonValueKind.Object)
            throw new QmpProtocolException($"QEMU sent a JSON value that is not an object: {Excerpt(line)}");

        if (message.TryGetProperty("event", out var name))
        {
            if (name.ValueKind != JsonValueKind.String)
                throw new QmpProtocolException($"QEMU sent an event without a name: {Excerpt(line)}");
            var data = message.TryGetProperty("data", out var d) ? d : EmptyObject;
            _events.Writer.TryWrite(new QmpEvent(name.GetString()!, data, ReadTimestamp(message)));
            return;
        }

        var isReturn = message.TryGetProperty("return", out var value);
        var isError = message.TryGetProperty("error", out var error);
        if (isReturn || isError)
        {
            // We always send a numeric id and QEMU echoes it; a reply without one means QEMU could
            // not parse what we sent, and then the stream's state is unknown.
            if (!message.TryGetProperty("id", out var idElement) || !idElement.TryGetInt64(out var id))
                throw new QmpProtocolException($"QEMU sent a reply without a numeric id: {Excerpt(line)}");
            // No pending entry: the command timed out or was cancelled; its late reply is dropped.
            if (_pending.TryGetValue(id, out var pending))
            {
                if (isReturn)
                    pending.Reply.TrySetResult(value);
                else
                    pending.Reply.TrySetException(ToError(pending.Command, error));
            }
            return;
        }

        if (message.TryGetProperty("QMP", out var greeting))
        {
            _greeting.TrySetResult(greeting);
            return;
        }

        throw new QmpProtocolException($"QEMU sent a message that is neither reply, event nor greeting: {Excerpt(line)}");
    }

    private static bool IsBlank(ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
        {
            foreach (var b in segment.Span)
            {
                if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
                    return false;
            }
        }
        return true;
    }

    private static QmpErrorException ToError(string command, JsonElement error)
    {
        string Text(string property) =>
            error.ValueKind == JsonValueKind.Object && error.TryGetProperty(property, out var p) && p.ValueKind == JsonValueKind.String
                ? p.GetString()!
                : "(none)";
        return new QmpErrorException(command, Text("class"), Text("desc"));
    }

    private static DateTimeOffset ReadTimestamp(JsonElement message)
    {
        if (message.TryGetProperty("timestamp", out var t) && t.ValueKind == JsonValueKind.Object
            && t.TryGetProperty("seconds", out var s) && s.TryGetInt64(out var seconds)
            && t.TryGetProperty("microseconds", out var us) && us.TryGetInt64(out var micros)
            && seconds >= 0 && seconds < 253_402_300_800 && micros is >= 0 and < 1_000_000)
            return DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(micros * 10);
        // QEMU writes -1 when it could not read the clock.
        return DateTimeOffset.UtcNow;
    }

    /// <summary>Ends the connection once: fails the greeting and every pending command, completes <see cref="Events"/> and <see cref="Completion"/>.</summary>
    private void Close(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _closedBecause, reason, null) is not null)
            return;

        _greeting.TrySetException(Failure("greeting", reason));
        foreach (var (_, pending) in _pending)
            pending.Reply.TrySetException(Failure(pending.Command, reason));

        if (reason is QmpProtocolException)
        {
            _events.Writer.TryComplete(reason);
            _completion.TrySetException(reason);
        }
        else
        {
            _events.Writer.TryComplete();
            _completion.TrySetResult();
        }

        try
        {
            // Wakes the reader loop when the close did not come from it.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>A fresh exception per waiter (one instance thrown from many awaits would share its stack trace).</summary>
    private static QmpException Failure(string command, Exception reason) => reason switch
    {
        QmpProtocolException => new QmpProtocolException($"'{command}' failed: {reason.Message}", reason),
        _ => new QmpConnectionClosedException($"'{command}' failed: {reason.Message}", reason),
    };

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static string Excerpt(ReadOnlySequence<byte> line)
    {
        var text = Encoding.UTF8.GetString(line.Slice(0, Math.Min(line.Length, 200)));
        return string.Concat(text.Select(c => char.IsControl(c) ? '?' : c));
    }

    private sealed record Pending(string Command, TaskCompletionSource<JsonElement> Reply);
}
