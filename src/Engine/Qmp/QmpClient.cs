using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;

namespace Paddock.Engine.Qmp;

/// <summary>
/// The only code that speaks QMP (docs/interop/qmp-spec). One connection to one QEMU monitor socket.
/// </summary>
/// <remarks>
/// A single reader loop owns the socket's input and never blocks on a consumer: it completes
/// pending commands by <c>id</c> (replies may come in any order) and writes events into a
/// bounded <see cref="Events"/> queue (<see cref="QmpEventQueue"/> says why full fails instead of
/// dropping). QEMU is not trusted: a line longer than <see cref="MaxLineBytes"/> or a flood of
/// unread events closes the connection with <see cref="QmpLimitExceededException"/> before the
/// agent holds more than those bounds for it. Sends are serialised by a lock. Every wait has a
/// timeout and a cancellation token. When the socket reaches end of file (QEMU is gone),
/// every pending command fails with <see cref="QmpConnectionClosedException"/>, <see cref="Events"/>
/// completes and <see cref="Completion"/> completes. Modelled on libvirt's qemu_monitor.c and
/// Proxmox's QMPClient.pm.
/// </remarks>
public sealed partial class QmpClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The longest line (reply, event or greeting) read from QEMU. The agent's largest replies are
    /// query-block, query-pci and query-hotpluggable-cpus: tens of KB for the biggest VM a spec allows
    /// (64 vCPUs, 64 root ports); a qcow2 image's internal snapshots add ~0.3 KB each to query-block.
    /// query-qmp-schema (~250 KB), which the agent does not ask for, would fit too.
    /// </summary>
    public const int MaxLineBytes = 1024 * 1024;

    /// <summary>How many events may wait unread in <see cref="Events"/> before the connection is closed.</summary>
    public const int MaxQueuedEvents = 1024;

    /// <summary>How many bytes of unread events (as QEMU sent them) may wait in <see cref="Events"/>.</summary>
    public const int MaxQueuedEventBytes = 4 * 1024 * 1024;

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<long, Pending> _pending = new();
    private readonly QmpEventQueue _events = new(MaxQueuedEvents, MaxQueuedEventBytes);
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

    /// <summary>Events in arrival order. Completes at end of file; completes with the error after a protocol error (an exceeded bound included).</summary>
    public ChannelReader<QmpEvent> Events => _events;

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
    /// <param name="expectedPeer">When given, the pid that must serve the socket (SO_PEERCRED): anyone else is refused before a byte is read.</param>
    public static async Task<QmpClient> ConnectAsync(string socketPath, CancellationToken ct = default, TimeSpan? timeout = null, int? expectedPeer = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var limit = timeout ?? DefaultConnectTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(limit);

        var socket = await ConnectSocketAsync(socketPath, ct, deadline.Token, limit, expectedPeer).ConfigureAwait(false);
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

    /// <summary>Connects to the socket, knocking again while it exists but does not listen yet, until <paramref name="deadline"/>.</summary>
    private static async Task<Socket> ConnectSocketAsync(string socketPath, CancellationToken ct, CancellationToken deadline, TimeSpan limit, int? expectedPeer)
    {
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline).ConfigureAwait(false);
                if (expectedPeer is { } pid)
                    Isolation.UnixPeer.Expect(socket, pid, $"the monitor socket '{socketPath}'");
                return socket;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && !deadline.IsCancellationRequested)
            {
                // bind(2) makes the socket file before listen(2) makes it take connections: a start
                // that saw the file may knock in between (unix(7)). Knock again until the deadline.
                socket.Dispose();
                try
                {
                    await Task.Delay(20, deadline).ConfigureAwait(false);
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
                if (e is Isolation.UnexpectedPeerException)
                    throw new QmpException(e.Message, e);
                throw;
            }
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
    public Task<JsonElement> ExecuteAsync(string command, object? arguments = null, CancellationToken ct = default, TimeSpan? timeout = null) =>
        ExecuteAsync(command, arguments, descriptor: null, ct, timeout);

    private async Task<JsonElement> RunAsync(string command, object? arguments, SafeHandle? descriptor, CancellationToken ct, TimeSpan? timeout)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        var limit = timeout ?? DefaultTimeout;
        var id = Interlocked.Increment(ref _lastId);
        var request = QmpWire.Request(command, arguments, id);
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
                await SendAsync(command, request, descriptor, deadline.Token).ConfigureAwait(false);
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

    private async Task SendAsync(string command, byte[] request, SafeHandle? descriptor, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (descriptor is null)
                await _stream.WriteAsync(request, ct).ConfigureAwait(false);
            else
                Interop.Libc.SendWithDescriptor(_socket.SafeHandle, request, descriptor);
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
                while (QmpWire.TryTakeLine(ref buffer, out var line))
                    Dispatch(line);
                // What is left is a line without its end yet: refuse it before holding more than the limit.
                QmpWire.CheckLineLength(buffer.Length);
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

    private void Dispatch(ReadOnlySequence<byte> line)
    {
        if (QmpWire.IsBlank(line))
            return;

        JsonElement message;
        try
        {
            message = Interop.JsonLines.ParseOne(line);
        }
        catch (JsonException e)
        {
            throw new QmpProtocolException($"QEMU sent malformed JSON ({e.Message}): {QmpWire.Excerpt(line)}", e);
        }

        if (message.ValueKind != JsonValueKind.Object)
            throw new QmpProtocolException($"QEMU sent a JSON value that is not an object: {QmpWire.Excerpt(line)}");

        if (message.TryGetProperty("event", out var name))
        {
            if (name.ValueKind != JsonValueKind.String)
                throw new QmpProtocolException($"QEMU sent an event without a name: {QmpWire.Excerpt(line)}");
            var data = message.TryGetProperty("data", out var d) ? d : EmptyObject;
            _events.Add(new QmpEvent(name.GetString()!, data, QmpWire.ReadTimestamp(message)), (int)line.Length);
            return;
        }

        var isReturn = message.TryGetProperty("return", out var value);
        var isError = message.TryGetProperty("error", out var error);
        if (isReturn || isError)
        {
            // We always send a numeric id and QEMU echoes it; a reply without one means QEMU could
            // not parse what we sent, and then the stream's state is unknown.
            if (!message.TryGetProperty("id", out var idElement) || !idElement.TryGetInt64(out var id))
                throw new QmpProtocolException($"QEMU sent a reply without a numeric id: {QmpWire.Excerpt(line)}");
            // No pending entry: the command timed out or was cancelled; its late reply is dropped.
            if (_pending.TryGetValue(id, out var pending))
            {
                if (isReturn)
                    pending.Reply.TrySetResult(value);
                else
                    pending.Reply.TrySetException(QmpWire.ToError(pending.Command, error));
            }
            return;
        }

        if (message.TryGetProperty("QMP", out var greeting))
        {
            _greeting.TrySetResult(greeting);
            return;
        }

        throw new QmpProtocolException($"QEMU sent a message that is neither reply, event nor greeting: {QmpWire.Excerpt(line)}");
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
            _events.Complete(reason);
            _completion.TrySetException(reason);
        }
        else
        {
            _events.Complete();
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
        QmpLimitExceededException limit => new QmpLimitExceededException(limit.Limit, limit.Bound, $"'{command}' failed: {reason.Message}", reason),
        QmpProtocolException => new QmpProtocolException($"'{command}' failed: {reason.Message}", reason),
        _ => new QmpConnectionClosedException($"'{command}' failed: {reason.Message}", reason),
    };

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private sealed record Pending(string Command, TaskCompletionSource<JsonElement> Reply);
}
