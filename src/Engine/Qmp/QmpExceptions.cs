namespace Paddock.Engine.Qmp;

/// <summary>Anything that went wrong talking QMP. Catch this to handle every QMP failure at once.</summary>
public class QmpException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>QEMU answered a command with <c>{"error": {"class": ..., "desc": ...}}</c>.</summary>
public sealed class QmpErrorException(string command, string errorClass, string description)
    : QmpException($"QMP command '{command}' failed: {errorClass}: {description}")
{
    public string Command { get; } = command;

    /// <summary>QMP's error class: GenericError, CommandNotFound, DeviceNotFound, ...</summary>
    public string ErrorClass { get; } = errorClass;

    public string Description { get; } = description;
}

/// <summary>QEMU sent something that is not QMP (malformed JSON, an unknown message). The connection is closed.</summary>
public class QmpProtocolException(string message, Exception? inner = null) : QmpException(message, inner);

/// <summary>
/// QEMU sent more than the client holds for it: a line longer than <see cref="QmpClient.MaxLineBytes"/>,
/// or more unread events than the queue's bounds. A QEMU that does so is broken or hostile; the
/// connection is closed, as for any other protocol error.
/// </summary>
public sealed class QmpLimitExceededException(string limit, long bound, string message, Exception? inner = null)
    : QmpProtocolException(message, inner)
{
    /// <summary>Which bound: <c>line bytes</c>, <c>queued events</c> or <c>queued event bytes</c>.</summary>
    public string Limit { get; } = limit;

    public long Bound { get; } = bound;
}

/// <summary>The QMP connection ended (end of file: QEMU exited or closed the monitor) or was disposed.</summary>
public sealed class QmpConnectionClosedException(string message, Exception? inner = null) : QmpException(message, inner);

/// <summary>
/// No reply within the timeout. The connection stays usable and a late reply is dropped, unless the
/// send itself stalled: then the connection is closed (<see cref="QmpClient.IsConnected"/> is false).
/// </summary>
public sealed class QmpTimeoutException(string command, TimeSpan timeout, string? hint = null)
    : QmpException($"QMP '{command}' got no reply within {timeout.TotalSeconds:0.###} s{(hint is null ? "" : $" ({hint})")}")
{
    public string Command { get; } = command;

    public TimeSpan Timeout { get; } = timeout;
}
