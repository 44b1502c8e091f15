namespace Paddock.Engine.Qemu;

/// <summary>QEMU did not come up: it exited early or never created its QMP socket. <see cref="StderrTail"/> holds its last words.</summary>
public sealed class QemuStartException(string message, int? exitCode, IReadOnlyList<string> stderrTail)
    : Exception(stderrTail.Count == 0 ? message : $"{message}{Environment.NewLine}{string.Join(Environment.NewLine, stderrTail)}")
{
    public int? ExitCode { get; } = exitCode;

    public IReadOnlyList<string> StderrTail { get; } = stderrTail;
}
