using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Agents;

public enum AgentCommandState
{
    /// <summary>Recorded, not yet accepted by the agent.</summary>
    Pending,
    /// <summary>The agent accepted it; its outcome will be reported.</summary>
    Sent,
    Succeeded,
    Failed,
}

/// <summary>
/// A command for a host agent, recorded in the same transaction as the event that asked for it and
/// before it is sent, so a portal restart neither loses it nor sends it as a new one: the agent
/// recognises a resend by its operation id.
/// </summary>
public sealed class AgentCommand
{
    /// <summary>The operation id.</summary>
    public Guid Id { get; set; }

    public Guid VmId { get; set; }

    public Guid HostId { get; set; }

    /// <summary>The template a template command (or a conversion into one) is about.</summary>
    public Guid? TemplateId { get; set; }

    public VmCommand Command { get; set; } = null!;

    /// <summary>The live migration the command is a step of: its outcome moves the migration on, it is no task of its own.</summary>
    public Guid? MigrationId { get; set; }

    /// <summary>What a person calls the thing the command is about (an ISO's library name), for the history.</summary>
    public string? DisplayName { get; set; }

    public AgentCommandState State { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? SentAt { get; set; }

    public string? Outcome { get; set; }

    /// <summary>The W3C trace context of the span that recorded the command (see <see cref="Shared.PortalTracing"/>); its send continues that trace.</summary>
    public string? TraceParent { get; set; }

    public bool Finished => State is AgentCommandState.Succeeded or AgentCommandState.Failed;
}
