using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;
using Paddock.Engine.Qemu;
using Paddock.Host.Portal;
using Paddock.Host.Vms;

namespace Paddock.Host.Node;

/// <summary>
/// Tells the portal every few seconds what this host's QEMU processes actually use (RSS, CPU time,
/// I/O counters) and what KSM shares. The VMs are sampled side by side, each within
/// <see cref="VmIoSampler.Patience"/>.
/// </summary>
public sealed class UsageReporter(
    IOptions<AgentOptions> options, VmTable vms, VmIoSampler io, GuestAgents guests, KsmKeeper ksm, DiskSpaceGuard disk, AgentHealth health, IPortalReporter portal, TimeProvider clock,
    ILogger<UsageReporter> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageInterval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var usages = (await Task.WhenAll(vms.All.Where(v => v.IsRunning).Select(v => SampleAsync(v, stoppingToken)))).OfType<VmUsage>().ToList();
            await portal.ReportUsageAsync(new HostUsage(
                usages.Sum(u => u.RssBytes), usages.Sum(u => u.CpuSeconds), usages, ksm.Read(), clock.GetUtcNow(), ksm.Manages, ksm.Problem, disk.FreeBytes(), health.Read()));
        }
    }

    private async Task<VmUsage?> SampleAsync(VmRuntime vm, CancellationToken ct)
    {
        if (vm.Process is not { IsRunning: true } process || ProcessUsage.TryRead(process.Pid) is not { } usage)
            return null;
        VmIo? counters;
        try
        {
            counters = await io.SampleAsync(vm, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // One VM's QEMU, however odd its answers, costs only its own figures, never the host's report.
            log.LogWarning("I/O counters of VM {Vm} not read: {Error}", vm.Id, e.Message);
            counters = null;
        }

        return new VmUsage(vm.Id, usage.RssBytes, usage.CpuSeconds, usage.Uid, usage.Gid, usage.Seccomp, counters, guests.Latest(vm.Id));
    }
}
