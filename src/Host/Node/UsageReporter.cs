using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Host.Portal;
using Paddock.Host.Vms;

namespace Paddock.Host.Node;

/// <summary>Tells the portal every few seconds what this host's QEMU processes actually use (RSS, CPU time) and what KSM shares.</summary>
public sealed class UsageReporter(
    IOptions<AgentOptions> options, VmTable vms, KsmKeeper ksm, DiskSpaceGuard disk, AgentHealth health, IPortalReporter portal, TimeProvider clock) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var usages = vms.RunningProcesses()
                .Select(p => (p.VmId, Usage: ProcessUsage.TryRead(p.Pid)))
                .Where(p => p.Usage is not null)
                .Select(p => new VmUsage(p.VmId, p.Usage!.RssBytes, p.Usage.CpuSeconds, p.Usage.Uid, p.Usage.Gid, p.Usage.Seccomp))
                .ToList();
            await portal.ReportUsageAsync(new HostUsage(
                usages.Sum(u => u.RssBytes), usages.Sum(u => u.CpuSeconds), usages, ksm.Read(), clock.GetUtcNow(), ksm.Manages, ksm.Problem, disk.FreeBytes(), health.Read()));
        }
    }
}
