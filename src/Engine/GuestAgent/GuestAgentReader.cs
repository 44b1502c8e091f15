namespace Paddock.Engine.GuestAgent;

/// <summary>
/// Reads the guest's bytes into one fixed buffer of <c>maxLineBytes + 1</c>: it never holds more,
/// and reads at most the budget <see cref="Begin"/> sets for one command. Bytes left over from one
/// command are skipped by the next one's sync.
/// </summary>
internal sealed class GuestAgentReader(Stream stream, int maxLineBytes)
{
    private readonly byte[] _buffer = new byte[maxLineBytes + 1];
    private int _start;
    private int _end;
    private long _budget;
    private long _bound;

    /// <summary>Starts a command: it may read <paramref name="bytes"/> more from the stream.</summary>
    internal void Begin(long bytes) => _budget = _bound = bytes;

    /// <summary>Discards everything up to and including the next sentinel.</summary>
    internal async ValueTask SkipPastSentinelAsync(CancellationToken ct)
    {
        while (true)
        {
            var at = Array.IndexOf(_buffer, GuestAgentWire.Sentinel, _start, _end - _start);
            if (at >= 0)
            {
                _start = at + 1;
                return;
            }
            _start = _end = 0;
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>The next line, without its newline; valid until the next read.</summary>
    /// <exception cref="GuestAgentLimitExceededException">The line is longer than the limit, or the command's budget ran out.</exception>
    /// <exception cref="GuestAgentConnectionClosedException">The stream ended.</exception>
    internal async ValueTask<ReadOnlyMemory<byte>> ReadLineAsync(CancellationToken ct)
    {
        var scanned = 0;
        while (true)
        {
            var at = Array.IndexOf(_buffer, (byte)'\n', _start + scanned, _end - _start - scanned);
            if (at >= 0)
            {
                var line = _buffer.AsMemory(_start, at - _start);
                _start = at + 1;
                return line;
            }
            scanned = _end - _start;
            if (scanned > maxLineBytes)
            {
                // The rest of this line is skipped by the next sync.
                _start = _end = 0;
                throw new GuestAgentLimitExceededException("line bytes", maxLineBytes,
                    $"The guest sent a line longer than {maxLineBytes} bytes, the most the client reads as one message.");
            }
            Compact();
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    private void Compact()
    {
        if (_start == 0)
            return;
        _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
        _end -= _start;
        _start = 0;
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_budget <= 0)
        {
            throw new GuestAgentLimitExceededException("bytes per command", _bound,
                $"The guest sent more than {_bound} bytes for one command without the reply it waits for.");
        }
        var room = (int)Math.Min(_buffer.Length - _end, _budget);
        int read;
        try
        {
            read = await stream.ReadAsync(_buffer.AsMemory(_end, room), ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new GuestAgentConnectionClosedException($"Reading from the guest agent failed: {e.Message}", e);
        }
        if (read == 0)
            throw new GuestAgentConnectionClosedException("The guest agent's socket reached end of file: QEMU closed it.");
        _end += read;
        _budget -= read;
    }
}
