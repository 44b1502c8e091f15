namespace Paddock.Engine.Images;

/// <summary>An image that qemu-img measure says would take more than its writer may write (the owner's storage left); nothing was written.</summary>
public sealed class ImageTooLargeException(string what, long neededBytes, long allowedBytes)
    : Exception($"{what} would take {Mib(neededBytes)}, more than the {Mib(allowedBytes)} its owner's image storage leaves; nothing was written.")
{
    public long NeededBytes { get; } = neededBytes;

    public long AllowedBytes { get; } = allowedBytes;

    private static string Mib(long bytes) => $"{Math.Ceiling(bytes / (1024.0 * 1024)):0} MiB";
}
