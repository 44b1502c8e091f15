using System.Security.Cryptography;
using System.Text.Json;

namespace Paddock.Engine.GuestAgent;

/// <summary>
/// The only code that speaks the QEMU guest agent protocol (qemu-ga, QEMU's qga/qapi-schema.json) over a
/// connected stream: the VM's virtio-serial chardev socket, connected (and its peer checked) by the caller.
/// </summary>
/// <remarks>
/// The guest is hostile: everything it sends is attacker-controlled. The client reads at most
/// <see cref="GuestAgentOptions.MaxLineBytes"/> as one line and <see cref="GuestAgentOptions.MaxBytesReadPerCommand"/>
/// for one command, waits at most <see cref="GuestAgentOptions.Timeout"/>, cleans and caps every string
/// it hands on (<see cref="GuestAgentLimits"/>), and turns anything unexpected into a typed
/// <see cref="GuestAgentException"/>. The agent has no ids to match replies with, and a reply to a
/// command that timed out may still come, so before every command the client syncs (guest-sync-delimited
/// with a random id, as libvirt's qemu_agent.c does) and so recovers from any failure but a closed stream.
/// One command at a time: the protocol cannot tell two replies apart.
/// </remarks>
public sealed partial class GuestAgentClient : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly GuestAgentOptions _options;
    private readonly GuestAgentReader _reader;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;

    /// <param name="stream">Connected to the agent's chardev; read and written by this client only.</param>
    /// <param name="leaveOpen">False: <see cref="DisposeAsync"/> disposes <paramref name="stream"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public GuestAgentClient(Stream stream, GuestAgentOptions? options = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _options = options ?? new GuestAgentOptions();
        _options.Validate();
        _stream = stream;
        _leaveOpen = leaveOpen;
        _reader = new GuestAgentReader(stream, _options.MaxLineBytes);
    }

    /// <summary>
    /// Syncs, runs <paramref name="command"/> and returns its <c>return</c> value; with
    /// <paramref name="replyExpected"/> false (commands that answer nothing on success) returns
    /// null when no reply came within <see cref="GuestAgentOptions.NoReplyWindow"/> or the stream ended.
    /// </summary>
    /// <exception cref="GuestAgentErrorException">The agent answered with an error.</exception>
    /// <exception cref="GuestAgentTimeoutException">No sync or reply within the timeout.</exception>
    /// <exception cref="GuestAgentProtocolException">The guest sent something that is not a reply, or too much.</exception>
    /// <exception cref="GuestAgentConnectionClosedException">The stream ended or failed.</exception>
    private async Task<JsonElement?> ExecuteAsync(string command, object? arguments, CancellationToken ct, TimeSpan? timeout, bool replyExpected = true)
    {
        var limit = timeout ?? _options.Timeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limit, TimeSpan.Zero, nameof(timeout));
        using var stopOrCancel = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
        try
        {
            await _lock.WaitAsync(stopOrCancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(GuestAgentClient));
        }
        try
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopOrCancel.Token);
            deadline.CancelAfter(limit);
            _reader.Begin(_options.MaxBytesReadPerCommand);
            var synced = false;
            try
            {
                await SyncAsync(deadline.Token).ConfigureAwait(false);
                synced = true;
                await WriteAsync(GuestAgentWire.Request(command, arguments), deadline.Token).ConfigureAwait(false);
                return replyExpected
                    ? await ReadReplyAsync(command, deadline.Token).ConfigureAwait(false)
                    : await ReadOptionalReplyAsync(command, limit, deadline.Token, stopOrCancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_stop.IsCancellationRequested)
            {
                throw new GuestAgentTimeoutException(command, limit,
                    synced ? null : $"no answer to {GuestAgentWire.SyncCommand}: the agent may not be running in the guest");
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(GuestAgentClient));
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Sends the sentinel and guest-sync-delimited with a fresh random id, then discards everything up
    /// to the agent's sentinel and every line after it until <c>{"return": id}</c>: stale replies,
    /// earlier syncs' replies and garbage all go (qga/qapi-schema.json, guest-sync-delimited).
    /// </summary>
    private async Task SyncAsync(CancellationToken ct)
    {
        // Random, not a counter: a stale sync reply from an earlier client on this socket cannot match.
        long id = RandomNumberGenerator.GetInt32(1, int.MaxValue);
        await WriteAsync(GuestAgentWire.SyncRequest(id), ct).ConfigureAwait(false);
        await _reader.SkipPastSentinelAsync(ct).ConfigureAwait(false);
        while (true)
        {
            var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false);
            if (GuestAgentWire.IsSyncReply(GuestAgentWire.AfterSentinel(line.Span), id))
                return;
        }
    }

    private async Task<JsonElement> ReadReplyAsync(string command, CancellationToken ct)
    {
        while (true)
        {
            var line = await _reader.ReadLineAsync(ct).ConfigureAwait(false);
            if (!GuestAgentWire.IsBlank(line.Span))
                return GuestAgentWire.ReadReply(command, line.Span);
        }
    }

    /// <summary>
    /// guest-shutdown and guest-suspend-* answer nothing on success: the guest goes down. Success is
    /// no reply within the window, the stream ending, or a <c>return</c> (qga/qapi-schema.json, guest-shutdown).
    /// </summary>
    /// <param name="callerOrStop">The caller's cancellation or disposal: those still end the wait as such.</param>
    private async Task<JsonElement?> ReadOptionalReplyAsync(string command, TimeSpan limit, CancellationToken ct, CancellationToken callerOrStop)
    {
        using var window = CancellationTokenSource.CreateLinkedTokenSource(ct);
        window.CancelAfter(_options.NoReplyWindow < limit ? _options.NoReplyWindow : limit);
        try
        {
            return await ReadReplyAsync(command, window.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!callerOrStop.IsCancellationRequested)
        {
            return null;
        }
        catch (GuestAgentConnectionClosedException)
        {
            return null;
        }
    }

    private async Task WriteAsync(byte[] bytes, CancellationToken ct)
    {
        // A write cut short leaves half a command in the agent's parser: the next sync's sentinel resets it.
        try
        {
            await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            await _stream.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new GuestAgentConnectionClosedException($"Writing to the guest agent failed: {e.Message}", e);
        }
    }

    /// <summary>Ends a running command (it fails with <see cref="ObjectDisposedException"/>) and, unless left open, disposes the stream.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        // A running command ends at once (its tokens hang on _stop); waiting for it keeps the stream
        // from being disposed under it. The lock and _stop are not disposed: a command that comes
        // later still needs them to fail cleanly, and neither holds anything (no wait handle, no timer).
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_leaveOpen)
                await _stream.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }
}
