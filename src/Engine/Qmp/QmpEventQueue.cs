using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace Paddock.Engine.Qmp;

/// <summary>
/// The events between <see cref="QmpClient"/>'s reader loop (the one writer) and their consumer,
/// bounded by count and by the bytes QEMU sent for them, so that a QEMU flooding events cannot
/// make the agent hold them without limit.
/// </summary>
/// <remarks>
/// Full means fail, not drop: the agent acts on every event it reads (SHUTDOWN, STOP, RESUME,
/// RESET, DEVICE_DELETED), and a dropped one would leave it believing a state QEMU has left, with
/// nothing to say so. QEMU rate-limits its chatty events (BALLOON_CHANGE, RTC_CHANGE, ...) and the
/// supervisor reads continuously, so a backlog this deep means QEMU is flooding: the caller closes
/// the connection, and the supervisor ends such a QEMU. Counting bytes as well as events matters
/// because one event may be as long as a line (<see cref="QmpClient.MaxLineBytes"/>).
/// </remarks>
internal sealed class QmpEventQueue(int maxEvents, long maxBytes) : ChannelReader<QmpEvent>
{
    private readonly Channel<(QmpEvent Event, int Bytes)> _channel =
        Channel.CreateUnbounded<(QmpEvent, int)>(new() { SingleWriter = true, SingleReader = false });

    private long _bytes;

    public override Task Completion => _channel.Reader.Completion;

    public override bool CanCount => true;

    public override int Count => _channel.Reader.Count;

    public override bool CanPeek => true;

    /// <summary>Queues <paramref name="e"/>, which took <paramref name="bytes"/> on the wire.</summary>
    /// <exception cref="QmpLimitExceededException">The queue would exceed one of its bounds; nothing was queued.</exception>
    public void Add(QmpEvent e, int bytes)
    {
        if (_channel.Reader.Count >= maxEvents)
        {
            throw new QmpLimitExceededException("queued events", maxEvents,
                $"QEMU sent more than {maxEvents} events that were not read yet (last: {e.Name}); the event queue is bounded.");
        }

        if (Interlocked.Read(ref _bytes) + bytes > maxBytes)
        {
            throw new QmpLimitExceededException("queued event bytes", maxBytes,
                $"QEMU sent events that were not read yet worth more than {maxBytes} bytes (last: {e.Name}); the event queue is bounded.");
        }

        Interlocked.Add(ref _bytes, bytes);
        // Unbounded underneath: the bounds above are the queue's, so this write always succeeds until completion.
        _channel.Writer.TryWrite((e, bytes));
    }

    public void Complete(Exception? error = null) => _channel.Writer.TryComplete(error);

    public override bool TryRead([MaybeNullWhen(false)] out QmpEvent item)
    {
        if (_channel.Reader.TryRead(out var entry))
        {
            Interlocked.Add(ref _bytes, -entry.Bytes);
            item = entry.Event;
            return true;
        }

        item = null;
        return false;
    }

    public override bool TryPeek([MaybeNullWhen(false)] out QmpEvent item)
    {
        var found = _channel.Reader.TryPeek(out var entry);
        item = found ? entry.Event : null;
        return found;
    }

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
        _channel.Reader.WaitToReadAsync(cancellationToken);
}
