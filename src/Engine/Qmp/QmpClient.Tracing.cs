using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Paddock.Engine.Qmp;

public sealed partial class QmpClient
{
    /// <summary>The activity source of QMP commands: one span per command, named <c>qmp COMMAND</c>.</summary>
    public const string TracingSource = "Paddock.Engine.Qmp";

    private static readonly ActivitySource Tracing = new(TracingSource);

    /// <summary>
    /// A command sent while an operation's span is open (one the portal asked for) gets a span of its
    /// own; one sent outside any (the usage sampler's every few seconds), or from a loop that outlived
    /// the operation that started it, starts none.
    /// </summary>
    private async Task<JsonElement> ExecuteAsync(string command, object? arguments, SafeHandle? descriptor, CancellationToken ct, TimeSpan? timeout)
    {
        using var span = Activity.Current is not { IsStopped: false } ? null : Tracing.StartActivity($"qmp {command}", ActivityKind.Client);
        span?.SetTag("rpc.system", "qmp");
        span?.SetTag("rpc.method", command);
        try
        {
            return await RunAsync(command, arguments, descriptor, ct, timeout).ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
    }
}
