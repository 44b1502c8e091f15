namespace Paddock.Engine.Qemu;

/// <summary>Text that cannot be put on QEMU's command line safely (a newline or NUL in a path, for instance).</summary>
public sealed class UnsafeQemuValueException(string what, string reason)
    : ArgumentException($"{what} cannot be passed to QEMU: {reason}")
{
    public string What { get; } = what;
}
