using System.Diagnostics;

namespace Paddock.Portal.Shared;

/// <summary>
/// Paddock's own spans, on the activity source <c>Paddock.Portal</c>: the VM operation a person asked
/// for (a button's event span, or an API request's, is its parent), and the command's send to its
/// agent. The operation's W3C context is kept with the command it records, so that the send, even
/// from another portal process or after a restart, continues the same trace; the agent's span and its
/// QMP commands' follow from the context the command carries.
/// </summary>
public static class PortalTracing
{
    public const string SourceName = "Paddock.Portal";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>The W3C context (traceparent) of the span open now, to keep with a command; null outside any.</summary>
    public static string? Current => Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;

    /// <summary>The span of an operation on the VM <paramref name="vmId"/> (null for a create: the VM is not yet).</summary>
    public static Activity? Operation(string verb, Guid? vmId)
    {
        var span = Source.StartActivity($"VM {verb}", ActivityKind.Internal);
        span?.SetTag("paddock.vm.id", vmId?.ToString());
        return span;
    }

    /// <summary>The send of a command to its agent, a child of the operation that recorded it (<paramref name="traceParent"/>).</summary>
    public static Activity? Send(string verb, Guid vmId, Guid operationId, string? traceParent)
    {
        ActivityContext.TryParse(traceParent, null, isRemote: false, out var parent);
        var span = Source.StartActivity($"send {verb}", ActivityKind.Producer, parent);
        span?.SetTag("paddock.vm.id", vmId.ToString());
        span?.SetTag("paddock.operation.id", operationId.ToString());
        return span;
    }
}
