namespace Paddock.Engine.Contract;

/// <summary>
/// What the portal can ask of a host agent (SignalR client results). Every command is accepted at
/// once and its progress and outcome come back through <see cref="IHostHub"/>; commands carry an
/// operation id so a resend after a reconnect is recognised instead of carried out twice.
/// </summary>
public interface IHostAgent
{
    Task<CommandAck> Execute(VmCommand command);

    /// <summary>Dial a binary WebSocket back to the portal for one console session and splice it to the VM's VNC socket.</summary>
    Task<CommandAck> OpenConsole(ConsoleDial dial);

    /// <summary>What the portal decided about this host that the agent acts on itself (KSM follows the RAM ratio).</summary>
    Task ApplyHostSettings(HostSettings settings);

    /// <summary>
    /// Every tenant network this host is to carry, whole (not a change): the agent makes what is
    /// missing, updates members and peers, and removes a network that is neither listed nor used by a NIC here.
    /// </summary>
    Task ApplyNetworks(IReadOnlyList<Networks.HostNetwork> networks);
}

/// <summary>What a host agent can tell the portal (hub methods).</summary>
public interface IHostHub
{
    Task<HostWelcome> Register(HostRegistration registration);

    Task ReportVm(VmReport report);

    Task ReportOperation(OperationReport report);

    /// <summary>What the host's QEMU processes actually use, and KSM, every few seconds.</summary>
    Task ReportUsage(HostUsage usage);
}

public static class ContractVersion
{
    /// <summary>Bumped on any breaking change of <see cref="IHostAgent"/> or <see cref="IHostHub"/>.</summary>
    public const int Current = 4;
}
