using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// Marks a host Unreachable once its <see cref="HostLease"/> ran out, and its VMs Unknown (never
/// Stopped: they may well run on); the host's next registration reports them again. Its record may
/// still say Connected (the portal process that held it died): the lease decides, and any portal
/// process may be the one that looks. Here rather than in Hosts: both happen in one transaction,
/// and Hosts stands below the VMs.
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
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // A timed-out query cancels too: only the portal stopping ends the watch.
                log.LogError(e, "Checking for unreachable hosts failed; trying again");
            }

            await Task.Delay(period, clock, stoppingToken);
        }
    }

    private async Task CheckAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await using var session = store.LightweightSession();
        var unknown = new List<VmChanged>();
        // Records first, then leases: a host that registers in between fails the version-checked save below.
        var present = await session.Query<HostRecord>().Where(h => !h.Unreachable && !h.Revoked).ToListAsync(ct);
        var leases = (await session.LoadManyAsync<HostLease>(ct, present.Select(h => h.Id))).ToDictionary(l => l.Id);
        var away = present.Where(h => HostLease.Expired(h, leases.GetValueOrDefault(h.Id), now, options.Value.HostGrace)).ToList();
        foreach (var host in away)
        {
            host.Unreachable = true;
            host.Connected = false;
            session.Store(host);
            var onIt = await session.Query<Vm>().Where(v => v.HostId == host.Id).ToListAsync(ct);
            foreach (var vm in onIt.Where(v => v.Status is not VmStatus.Unknown))
            {
                session.Events.Append(vm.Id, new VmHostUnreachable(host.Id, now));
                unknown.Add(new VmChanged(vm.Id, vm.OwnerId));
            }

            log.LogWarning("Host {Name} ({Host}) has had no lease since {Until}: Unreachable, its {Count} VMs Unknown",
                host.Name, host.Id, HostLease.EndOf(host, leases.GetValueOrDefault(host.Id), options.Value.HostGrace), onIt.Count);
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
