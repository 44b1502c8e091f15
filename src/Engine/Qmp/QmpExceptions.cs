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
public sealed class QmpProtocolException(string message, Exception? inner = null) : QmpException(message, inner);

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
