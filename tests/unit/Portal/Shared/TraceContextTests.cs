using System.Diagnostics;
using Paddock.Engine.Contract;
using Paddock.Host.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

/// <summary>
/// The trace context's way from an operation's span through its stored command and the dispatcher's
/// send to the agent's span: each the child of the one before, one trace id throughout. (The e2e
/// MetricsTests follows the same chain across processes, to QMP.)
/// </summary>
public sealed class TraceContextTests : IDisposable
{
    private readonly ActivityListener _listener = new()
    {
        ShouldListenTo = source => source.Name is PortalTracing.SourceName or AgentTracing.Source,
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    };

    public TraceContextTests() => ActivitySource.AddActivityListener(_listener);

    public void Dispose() => _listener.Dispose();

    [Fact]
    public void An_operations_context_passes_through_its_stored_command_and_its_send_to_the_agents_span()
    {
        var vmId = Guid.NewGuid();
        string? stored;
        string traceId, operationSpan;
        using (var operation = PortalTracing.Operation("Pause", vmId))
        {
            Assert.NotNull(operation);
            stored = PortalTracing.Current;
            (traceId, operationSpan) = (operation.TraceId.ToString(), operation.SpanId.ToString());
        }

        Assert.Null(Activity.Current);
        using var send = PortalTracing.Send("Pause", vmId, Guid.NewGuid(), stored);
        Assert.Equal(traceId, send!.TraceId.ToString());
        Assert.Equal(operationSpan, send.ParentSpanId.ToString());
        var command = new VmCommand(Guid.NewGuid(), vmId, VmVerb.Pause, TraceParent: send.Id);
        send.Stop();

        using var agent = AgentTracing.Operation(command);
        Assert.Equal(traceId, agent!.TraceId.ToString());
        Assert.Equal(send.SpanId, agent.ParentSpanId);
        Assert.Equal("agent Pause", agent.DisplayName);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("not a traceparent")]
    [InlineData("00-00000000000000000000000000000000-0000000000000000-01")]
    public void A_command_without_a_usable_context_starts_a_trace_of_its_own(string? traceParent)
    {
        using var agent = AgentTracing.Operation(new VmCommand(Guid.NewGuid(), Guid.NewGuid(), VmVerb.Start, TraceParent: traceParent));
        Assert.NotNull(agent);
        Assert.Equal(default, agent.ParentSpanId);
        Assert.NotEqual("00000000000000000000000000000000", agent.TraceId.ToString());
    }
}
