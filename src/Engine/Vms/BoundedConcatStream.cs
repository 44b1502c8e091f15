namespace Paddock.Engine.Vms;

/// <summary>
/// Reads seekable parts one after another, each only up to the length it had when this was made:
/// a part that grows meanwhile (a log QEMU appends to) cannot make the reader go on for ever.
/// </summary>
internal sealed class BoundedConcatStream : Stream
{
    private readonly Stream[] _parts;
    private readonly long[] _left;
    private int _current;

    public BoundedConcatStream(IReadOnlyList<Stream> parts)
    {
        _parts = [.. parts];
        _left = [.. parts.Select(p => p.Length - p.Position)];
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        for (; _current < _parts.Length; _current++)
        {
            var read = _left[_current] > 0 ? _parts[_current].Read(buffer[..Bounded(buffer.Length)]) : 0;
            if (read > 0)
                return Took(read);
        }

        return 0;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        for (; _current < _parts.Length; _current++)
        {
            var read = _left[_current] > 0 ? await _parts[_current].ReadAsync(buffer[..Bounded(buffer.Length)], cancellationToken).ConfigureAwait(false) : 0;
            if (read > 0)
                return Took(read);
        }

        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var part in _parts)
                part.Dispose();
        }

        base.Dispose(disposing);
    }

    // A part that shrank under us (a rotation truncated the live log) simply ends early.
    private int Bounded(int wanted) => (int)Math.Min(wanted, _left[_current]);

    private int Took(int read)
    {
        _left[_current] -= read;
        return read;
    }
}
