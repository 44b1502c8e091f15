using Paddock.Engine.Images;

namespace Paddock.Engine.Hosting;

/// <summary>
/// What an operation is about to write on a disk: what it is, about how much it needs, and what the
/// file system had free when it began. When the write then meets a full disk (ENOSPC) or a quota
/// (EDQUOT), from this process or from QEMU or qemu-img, <see cref="Full"/> says so in a sentence a
/// person can act on, instead of the kernel's text with its paths.
/// </summary>
/// <param name="Disk">Whose disk: "host's" or "portal's".</param>
public sealed record DiskRoom(string What, long NeededBytes, long FreeBytes, string Disk = "host's")
{
    private const int NoSpace = 28;
    private const int QuotaExceeded = 122;

    /// <summary>The room <paramref name="what"/> needs in <paramref name="directory"/>, with what is free there now.</summary>
    public static DiskRoom At(string directory, string what, long neededBytes, string disk = "host's") =>
        new(what, neededBytes, FreeBytesAt(directory), disk);

    /// <summary>What the file system of <paramref name="directory"/> has free for this process.</summary>
    public static long FreeBytesAt(string directory) => new DriveInfo(directory).AvailableFreeSpace;

    /// <summary>Whether less was free than needed when the operation began.</summary>
    public bool Lacks => FreeBytes < NeededBytes;

    /// <summary>The failure, told as a full disk, when <paramref name="cause"/> is one (as it was told already, if it was); else null.</summary>
    public DiskFullException? Full(Exception cause) => cause as DiskFullException ?? (IsFull(cause) ? new DiskFullException(this, cause) : null);

    /// <summary>Whether <paramref name="e"/> (or one it wraps) is a write that met a full disk or a quota.</summary>
    public static bool IsFull(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            // .NET on Unix carries the errno of an I/O error it has no type for as the HResult.
            if (e is DiskFullException || e is IOException { HResult: NoSpace or QuotaExceeded } || e is QemuImgException q && SaysFull(q.Stderr))
                return true;
        }

        return false;
    }

    /// <summary>Whether QEMU's or qemu-img's error text is the kernel's ENOSPC or EDQUOT (strerror, as QEMU prints it under LC_ALL=C).</summary>
    public static bool SaysFull(string? error) =>
        error is not null
        && (error.Contains("No space left on device", StringComparison.Ordinal) || error.Contains("Disk quota exceeded", StringComparison.Ordinal));

    /// <summary>The sentence: the need rounded up, the free space down, so neither flatters the disk.</summary>
    internal string Sentence =>
        $"The {Disk} disk is full: {What} needs about {Math.Ceiling(NeededBytes / MiB):0} MiB and {Math.Floor(Math.Max(FreeBytes, 0) / MiB):0} MiB were free.";

    private const double MiB = 1024 * 1024;
}

/// <summary>A write met a full disk or a quota; the message names what needed room, how much, and what was free.</summary>
public sealed class DiskFullException(DiskRoom room, Exception? inner = null)
    : IOException(room.Sentence, inner)
{
    public DiskRoom Room { get; } = room;
}
