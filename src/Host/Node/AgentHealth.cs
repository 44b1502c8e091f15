using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;

namespace Paddock.Host.Node;

/// <summary>
/// The agent's health, checked with every usage report: disk room (below the floor, operations that
/// take disk are refused: unhealthy), the walls it can build around QEMU (fewer than an own uid and
/// the seccomp sandbox: degraded), and KSM as the host's RAM ratio wants it (degraded).
/// </summary>
public sealed class AgentHealth(IOptions<AgentOptions> options, DiskSpaceGuard disk, ConfinementGuard confinement, KsmKeeper ksm)
{
    private const long MiB = 1024 * 1024;

    public AgentHealthReport Read() => AgentHealthReport.Of([Disk(), Walls(), Ksm()]);

    private AgentHealthCheck Disk()
    {
        var free = disk.FreeBytes() / MiB;
        var floor = options.Value.MinFreeDiskMiB;
        return free < floor
            ? new("disk", AgentHealthReport.Unhealthy, $"{free} MiB free, below the floor of {floor} MiB: operations that take disk are refused.")
            : new("disk", AgentHealthReport.Healthy, $"{free} MiB free (floor {floor} MiB).");
    }

    private AgentHealthCheck Walls()
    {
        var walls = confinement.Confinement;
        return walls is { OwnUid: true, Sandbox: true }
            ? new("confinement", AgentHealthReport.Healthy, $"VMs run confined: {walls.Mode}.")
            : new("confinement", AgentHealthReport.Degraded, $"VMs can run only {walls.Mode} here: they start where an admin allowed unconfined VMs.");
    }

    private AgentHealthCheck Ksm() =>
        ksm.Problem is { } problem
            ? new("ksm", AgentHealthReport.Degraded, problem)
            : new("ksm", AgentHealthReport.Healthy, ksm.Manages ? "KSM as the RAM ratio wants it." : "KSM is not this agent's to manage.");
}
