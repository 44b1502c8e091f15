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
    /// <exception cref="IOException">The log is missing, a link or not a plain file.</exception>
    public static async Task<long?> RotateIfOverAsync(VmPaths paths, long capBytes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        using var live = RunDirectory.OpenForRotation(paths.SerialLog);
        var size = RandomAccess.GetLength(live);
        var previous = new FileInfo(paths.SerialLogPrevious) is { Exists: true } file ? file.Length : 0;
        if (Decide(size, previous, ReadDropped(paths), capBytes) is not { } rotation)
            return null;

        await RunDirectory.WriteAtomicallyAsync(paths.SerialLogPrevious,
            (to, token) => CopyAsync(live, rotation.KeepFrom, rotation.KeepBytes, to, token), ct).ConfigureAwait(false);
        // Counted before the truncate: a crash in between over-counts, it never hides a drop.
        await WriteDroppedAsync(paths, rotation.DroppedTotal, ct).ConfigureAwait(false);
        // What QEMU appended while we copied goes with the truncate (copytruncate's known window); count it.
        var grown = RandomAccess.GetLength(live) - size;
        RandomAccess.SetLength(live, 0);
        if (grown <= 0)
            return rotation.DroppedTotal;
        await WriteDroppedAsync(paths, rotation.DroppedTotal + grown, ct).ConfigureAwait(false);
        return rotation.DroppedTotal + grown;
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

    private static async Task CopyAsync(Microsoft.Win32.SafeHandles.SafeFileHandle from, long offset, long count, Stream to, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        for (var copied = 0L; copied < count;)
        {
            var read = await RandomAccess.ReadAsync(from, buffer.AsMemory(0, (int)Math.Min(buffer.Length, count - copied)), offset + copied, ct)
                .ConfigureAwait(false);
            if (read == 0)
                break;
            await to.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
            copied += read;
        }
    }
}
