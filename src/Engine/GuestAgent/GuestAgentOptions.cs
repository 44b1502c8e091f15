namespace Paddock.Engine.GuestAgent;

/// <summary>How long <see cref="GuestAgentClient"/> waits for the guest and how much it reads from it.</summary>
public sealed record GuestAgentOptions
{
    /// <summary>How long one command may take, its sync included (the wait for an earlier command to finish is not counted).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a command that answers nothing on success (<c>guest-shutdown</c>) waits for an error
    /// before it counts as done; never longer than <see cref="Timeout"/>.
    /// </summary>
    public TimeSpan NoReplyWindow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The longest line read from the guest. qemu-ga's largest reply here is guest-network-get-interfaces:
    /// about 150 bytes an address, so 64 interfaces with a few addresses each fit.
    /// </summary>
    public int MaxLineBytes { get; init; } = 64 * 1024;

    /// <summary>The most bytes read for one command, the sync and what it skips (stale replies) included.</summary>
    public int MaxBytesReadPerCommand { get; init; } = 256 * 1024;

    /// <exception cref="ArgumentOutOfRangeException">A value that would make the client useless or unbounded.</exception>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero, nameof(Timeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(NoReplyWindow, TimeSpan.Zero, nameof(NoReplyWindow));
        // A sync reply ({"return": 2147483647}) must fit in a line.
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLineBytes, 256, nameof(MaxLineBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBytesReadPerCommand, MaxLineBytes, nameof(MaxBytesReadPerCommand));
    }
}

/// <summary>
/// How much of what the guest says is kept: longer strings are cut, longer lists are cut after their
/// first items. The guest is not trusted; these keep what it says to a size a page or a log can show.
/// </summary>
public static class GuestAgentLimits
{
    /// <summary>Any string taken from a reply (names, versions, an error's description).</summary>
    public const int MaxTextChars = 256;

    /// <summary>A host name: a DNS name is at most 253 characters (RFC 1035, 2.3.4).</summary>
    public const int MaxHostNameChars = 253;

    public const int MaxInterfaces = 64;

    public const int MaxAddressesPerInterface = 64;

    /// <summary>qemu-ga 8.x knows about 60 commands.</summary>
    public const int MaxSupportedCommands = 512;
}
