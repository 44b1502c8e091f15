using System.Runtime.InteropServices;
using System.Text.Json;

namespace Paddock.Engine.Qmp;

public sealed partial class QmpClient
{
    /// <summary>
    /// Runs <paramref name="command"/> with <paramref name="descriptor"/> attached to the bytes that
    /// carry it (SCM_RIGHTS): how <c>getfd</c> and <c>add-fd</c> receive a file descriptor (qmp-spec,
    /// "getfd"). QEMU keeps its own copy; the caller may close its descriptor once this returns.
    /// </summary>
    public Task<JsonElement> ExecuteWithDescriptorAsync(string command, object? arguments, SafeHandle descriptor, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return ExecuteAsync(command, arguments, descriptor, ct, timeout);
    }
}
