namespace Paddock.Engine.Images;

/// <summary>qemu-img failed. <see cref="Stderr"/> is what it said.</summary>
public sealed class QemuImgException(string operation, int exitCode, string stderr)
    : Exception($"qemu-img {operation} failed with code {exitCode}: {stderr.Trim()}")
{
    public string Operation { get; } = operation;

    public int ExitCode { get; } = exitCode;

    public string Stderr { get; } = stderr;
}
