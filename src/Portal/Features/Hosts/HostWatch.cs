using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// Marks a host Unreachable once it has been away longer than the grace period, and its VMs
/// Unknown (never Stopped: they may well run on); the host's next registration reports them again.
/// </summary>
public sealed class HostWatch(IDocumentStore store, IOptions<PortalOptions> options, ChangeNotifier<HostsChanged> hosts, ChangeNotifier<VmChanged> vms, TimeProvider clock, ILogger<HostWatch> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = options.Value.HostGrace / 3 < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : options.Value.HostGrace / 3;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CheckAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Checking for unreachable hosts failed; trying again");
            }

            await Task.Delay(period, clock, stoppingToken);
        }
    }

    private async Task CheckAsync(CancellationToken ct)
    {
        var cutoff = clock.GetUtcNow() - options.Value.HostGrace;
        await using var session = store.LightweightSession();
        var unknown = new List<VmChanged>();
        var away = await session.Query<HostRecord>().Where(h => !h.Connected && !h.Unreachable && !h.Revoked && h.LastSeenAt < cutoff).ToListAsync(ct);
        foreach (var host in away)
        {
            host.Unreachable = true;
            session.Store(host);
            var now = clock.GetUtcNow();
            var onIt = await session.Query<Vm>().Where(v => v.HostId == host.Id).ToListAsync(ct);
            foreach (var vm in onIt.Where(v => v.Status is not VmStatus.Unknown))
            {
                session.Events.Append(vm.Id, new VmHostUnreachable(host.Id, now));
                unknown.Add(new VmChanged(vm.Id, vm.OwnerId));
            }

            log.LogWarning("Host {Name} ({Host}) has not reported since {Since}: Unreachable, its {Count} VMs Unknown", host.Name, host.Id, host.LastSeenAt, onIt.Count);
        }

        if (away.Count == 0)
        {
            return;
        }

        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (JasperFx.ConcurrencyException)
        {
            // A host came back meanwhile: the next round looks again.
            return;
        }

        hosts.Publish(new HostsChanged());
        unknown.ForEach(vms.Publish);
    }
}
