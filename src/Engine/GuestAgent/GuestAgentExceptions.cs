namespace Paddock.Engine.GuestAgent;

/// <summary>Anything that went wrong talking to the guest agent. Catch this to handle every guest agent failure at once.</summary>
/// <remarks>
/// After any of these but <see cref="GuestAgentConnectionClosedException"/> the client stays usable:
/// the next command syncs again before it is sent.
/// </remarks>
public class GuestAgentException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The agent answered a command with <c>{"error": {"class": ..., "desc": ...}}</c>; both are cleaned (the guest wrote them).</summary>
public sealed class GuestAgentErrorException(string command, string errorClass, string description)
    : GuestAgentException($"Guest agent command '{command}' failed: {errorClass}: {description}")
{
    public string Command { get; } = command;

    /// <summary>The agent's error class: GenericError, CommandNotFound, ...</summary>
    public string ErrorClass { get; } = errorClass;

    public string Description { get; } = description;
}

/// <summary>The guest sent something that is not a guest agent reply: malformed JSON, a wrong type or shape, more than a bound.</summary>
public class GuestAgentProtocolException(string message, Exception? inner = null) : GuestAgentException(message, inner);

/// <summary>
/// The guest sent more than the client reads for it: a line longer than <see cref="GuestAgentOptions.MaxLineBytes"/>
/// or, for one command, more than <see cref="GuestAgentOptions.MaxBytesReadPerCommand"/> in all.
/// </summary>
public sealed class GuestAgentLimitExceededException(string limit, long bound, string message)
    : GuestAgentProtocolException(message)
{
    /// <summary>Which bound: <c>line bytes</c> or <c>bytes per command</c>.</summary>
    public string Limit { get; } = limit;

    public long Bound { get; } = bound;
}

/// <summary>No reply within the timeout: the agent is not running, busy, or will not answer.</summary>
public sealed class GuestAgentTimeoutException(string command, TimeSpan timeout, string? hint = null)
    : GuestAgentException($"Guest agent '{command}' got no reply within {timeout.TotalSeconds:0.###} s{(hint is null ? "" : $" ({hint})")}")
{
    public string Command { get; } = command;

    public TimeSpan Timeout { get; } = timeout;
}

/// <summary>The stream ended (end of file, a reset): QEMU closed the agent's socket. The client is of no further use.</summary>
public sealed class GuestAgentConnectionClosedException(string message, Exception? inner = null) : GuestAgentException(message, inner);
