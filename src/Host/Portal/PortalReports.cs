using Paddock.Engine.Contract;

namespace Paddock.Host.Portal;

/// <summary>
/// Where the agent's observations go. An operation's outcome is kept in the journal until the portal
/// confirms it; VM states and usage made while the portal is away are not kept: registration sends the whole truth again.
/// </summary>
public interface IPortalReporter
{
    Task ReportVmAsync(VmReport report);

    Task ReportOperationAsync(OperationReport report);

    Task ReportUsageAsync(HostUsage usage);
}

/// <summary>
/// The reporter the VMs and node services are given: it passes reports to the portal connection
/// once that connection exists (<see cref="Connect"/>), and drops them before (outcomes wait in the journal). The
/// connection needs the VMs to take commands and the VMs report through it; this breaks the circle
/// without either looking the other up.
/// </summary>
public sealed class PortalReports : IPortalReporter
{
    private volatile IPortalReporter? _connection;

    public void Connect(IPortalReporter connection) => _connection = connection;

    public Task ReportVmAsync(VmReport report) => _connection?.ReportVmAsync(report) ?? Task.CompletedTask;

    public Task ReportOperationAsync(OperationReport report) => _connection?.ReportOperationAsync(report) ?? Task.CompletedTask;

    public Task ReportUsageAsync(HostUsage usage) => _connection?.ReportUsageAsync(usage) ?? Task.CompletedTask;
}
