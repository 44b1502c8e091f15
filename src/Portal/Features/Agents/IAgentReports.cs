using Marten;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Agents;

/// <summary>
/// Where what agents report goes: the VMs' state and the outcome of each command. Vms implements
/// it, so that Agents, which carries commands and reports, knows nothing of the VMs' history.
/// </summary>
public interface IAgentReports
{
    /// <summary>A VM's state as its host's agent observed it (at registration, and whenever it changes).</summary>
    Task ObserveAsync(Guid hostId, VmReport report, CancellationToken ct = default);

    /// <summary>How a command ended, as its host's agent reported it (or refused to accept it).</summary>
    Task CompleteAsync(Guid hostId, OperationReport report, CancellationToken ct = default);

    /// <summary>
    /// The host's agent went away: what it was doing that cannot go on without it (a migration's
    /// move or preparation, whose channels ended with it) ends as failed.
    /// </summary>
    Task HostLeftAsync(Guid hostId, CancellationToken ct = default);

    /// <summary>Which of <paramref name="vmIds"/> are placed on <paramref name="hostId"/>, read in <paramref name="session"/>: a host speaks only for its own VMs.</summary>
    Task<IReadOnlySet<Guid>> OwnVmsAsync(IQuerySession session, Guid hostId, IReadOnlyCollection<Guid> vmIds, CancellationToken ct = default);
}

/// <summary>
/// What a host's agent applies itself (its RAM ratio, whether it may run VMs unconfined), sent when
/// it registers. Placement implements it, and sends it again when an admin changes a policy.
/// </summary>
public interface IHostSettingsSource
{
    Task<HostSettings> SettingsOfAsync(Guid hostId, CancellationToken ct = default);
}

/// <summary>
/// What features above Agents send a host when it registers, after its settings and before any
/// command is resent (Networks sends the networks the host is to carry). Each registers one.
/// </summary>
public interface IHostArrivals
{
    Task ArrivedAsync(Guid hostId, IHostAgent agent, CancellationToken ct = default);
}
