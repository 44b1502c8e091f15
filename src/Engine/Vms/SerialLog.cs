using System.Globalization;
using System.Text;

namespace Paddock.Engine.Vms;

/// <summary>
/// A VM's serial log kept to a size: "copytruncate" rotation (logrotate's, because QEMU holds the
/// log open with O_APPEND and cannot be told to reopen it) and the download that says when it
/// starts mid-way.
/// </summary>
/// <remarks>
/// The live log is the VM's file (QEMU appends to it); its bytes are hostile, so they are copied
/// by offset, never parsed, and only as many as are kept. <c>serial.log.1</c> and the count of
/// dropped bytes are the agent's own files in the agent's directory (see <see cref="RunDirectory"/>).
/// </remarks>
public static class SerialLog
{
    /// <summary>What one rotation does: keep <paramref name="KeepBytes"/> from <paramref name="KeepFrom"/> of the live log as its previous part.</summary>
    public sealed record Rotation(long KeepFrom, long KeepBytes, long DroppedTotal);

    /// <summary>
    /// Rotate when the live log is over <paramref name="capBytes"/>: its last <paramref name="capBytes"/>
    /// become the previous part, and what is left of it, with the previous part it replaces, is dropped.
    /// A download then holds at most the cap in the previous part plus what the guest printed since.
    /// </summary>
    public static Rotation? Decide(long liveBytes, long previousBytes, long droppedBefore, long capBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(liveBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(previousBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(droppedBefore);
        if (liveBytes <= capBytes)
            return null;
        var keepFrom = liveBytes - capBytes;
        return new Rotation(keepFrom, capBytes, droppedBefore + previousBytes + keepFrom);
    }

    /// <summary>The download's first line when earlier output was dropped; null when nothing was.</summary>
    public static string? Notice(long droppedBytes) =>
        droppedBytes <= 0 ? null : $"[paddock: this log starts mid-way; {Size(droppedBytes)} of earlier output was dropped]\n";

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.0} MiB"),
    };

    /// <summary>
    /// Rotates the VM's serial log when it is over <paramref name="capBytes"/>; returns how many bytes
    /// have been dropped in all when it did, null when the log was within the cap.
    /// </summary>
    /// <remarks>
    /// What QEMU appends between reading the log's size and truncating it is lost (copytruncate's
    /// window), so nothing slow happens in between: the kept tail is read into memory, the log is
    /// truncated, and only then are the files written and flushed to disk. Before the window, the
    /// count of dropped bytes is raised as if the whole log went: a crash before the end over-counts,
    /// it never hides a drop.
    /// </remarks>
    /// <exception cref="IOException">The log is missing, a link or not a plain file.</exception>
    public static async Task<long?> RotateIfOverAsync(VmPaths paths, long capBytes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        using var live = RunDirectory.OpenForRotation(paths.SerialLog);
        var previous = new FileInfo(paths.SerialLogPrevious) is { Exists: true } file ? file.Length : 0;
        var droppedBefore = ReadDropped(paths);
        if (Decide(RandomAccess.GetLength(live), previous, droppedBefore, capBytes) is not { } first)
            return null;
        await WriteDroppedAsync(paths, first.DroppedTotal + first.KeepBytes, ct).ConfigureAwait(false);

        // The window: a fresh size, one read of the tail, the truncate.
        var size = RandomAccess.GetLength(live);
        var rotation = Decide(size, previous, droppedBefore, capBytes)!;
        var tail = new byte[rotation.KeepBytes];
        var kept = await ReadTailAsync(live, rotation.KeepFrom, tail, ct).ConfigureAwait(false);
        var grown = RandomAccess.GetLength(live) - size;
        RandomAccess.SetLength(live, 0);

        await RunDirectory.WriteAtomicallyAsync(paths.SerialLogPrevious,
            (to, token) => to.WriteAsync(tail.AsMemory(0, kept), token).AsTask(), ct).ConfigureAwait(false);
        var dropped = rotation.DroppedTotal + Math.Max(grown, 0);
        await WriteDroppedAsync(paths, dropped, ct).ConfigureAwait(false);
        return dropped;
    }
    /// <summary>
    /// The whole log as a download: the notice when output was dropped, the previous part, then the
    /// live log, each as long as it was when the download began (the guest may print on for ever).
    /// </summary>
    /// <exception cref="IOException">A part is a link or not a plain file.</exception>
    public static Stream OpenDownload(VmPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var parts = new List<Stream>();
        try
        {
            if (Notice(ReadDropped(paths)) is { } notice)
                parts.Add(new MemoryStream(Encoding.UTF8.GetBytes(notice), writable: false));
            // The previous part first: a rotation between the two opens then loses no more than it drops anyway.
            if (File.Exists(paths.SerialLogPrevious))
                parts.Add(RunDirectory.OpenForReading(paths.SerialLogPrevious));
            parts.Add(RunDirectory.OpenForReading(paths.SerialLog));
            return new BoundedConcatStream(parts);
        }
        catch
        {
            parts.ForEach(p => p.Dispose());
            throw;
        }
    }

    /// <summary>The dropped count; the file is the agent's, but read bounded and parsed strictly all the same.</summary>
    public static long ReadDropped(VmPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (!File.Exists(paths.SerialLogDropped))
            return 0;
        using var file = RunDirectory.OpenForReading(paths.SerialLogDropped);
        Span<byte> buffer = stackalloc byte[32];
        var read = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return long.TryParse(buffer[..read], NumberStyles.None, CultureInfo.InvariantCulture, out var dropped) ? dropped : 0;
    }

    private static Task WriteDroppedAsync(VmPaths paths, long dropped, CancellationToken ct) =>
        RunDirectory.WriteAtomicallyAsync(paths.SerialLogDropped, dropped.ToString(CultureInfo.InvariantCulture), ct);

    private static async Task<int> ReadTailAsync(Microsoft.Win32.SafeHandles.SafeFileHandle from, long offset, byte[] into, CancellationToken ct)
    {
        var read = 0;
        while (read < into.Length)
        {
            var got = await RandomAccess.ReadAsync(from, into.AsMemory(read), offset + read, ct).ConfigureAwait(false);
            if (got == 0)
                break;
            read += got;
        }

        return read;
    }
}
