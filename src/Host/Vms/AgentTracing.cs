using System.Diagnostics;
using Paddock.Engine.Contract;

namespace Paddock.Host.Vms;

/// <summary>
/// The agent's spans: one per operation, a child of the portal's span that sent the command (its
/// <see cref="VmCommand.TraceParent"/>); the QMP commands the operation sends are its children.
/// </summary>
public static class AgentTracing
{
    public const string Source = "Paddock.Host";

    private static readonly ActivitySource Tracing = new(Source);

    /// <summary>Starts the span of <paramref name="command"/>'s run; null when nobody listens (no OTLP endpoint set).</summary>
    public static Activity? Operation(VmCommand command)
    {
        ActivityContext.TryParse(command.TraceParent, null, isRemote: true, out var parent);
        var span = Tracing.StartActivity($"agent {command.Verb}", ActivityKind.Consumer, parent);
        span?.SetTag("paddock.vm.id", command.VmId.ToString());
        span?.SetTag("paddock.operation.id", command.OperationId.ToString());
        return span;
    }
}
