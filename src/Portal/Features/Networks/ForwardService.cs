using System.Security.Claims;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Networks;

/// <summary>
/// Port forwards of VMs' NICs: add one (a NIC on a network with NAT, within its owner's quota, a
/// free port of <see cref="NetworkOptions.ForwardPorts"/> on the VM's host), delete one, and move
/// them with their VM. The caller (the VM feature) has checked who may; hosts learn of them
/// through <see cref="NetworkPusher"/>, which follows <see cref="NetworksChanged"/>.
/// </summary>
public sealed class ForwardService(IDocumentStore store, IOptions<NetworkOptions> options, Audit audit, ChangeNotifier<NetworksChanged> changes)
{
    private (int First, int Last) Range => ForwardRules.ParseRange(options.Value.ForwardPorts)!.Value;

    /// <summary>The VM's forwards, with the address to use: the host's registered (VXLAN) address, which other hosts reach it on.</summary>
    public static async Task<IReadOnlyList<ForwardView>> ListAsync(IQuerySession session, Guid vmId, CancellationToken ct = default)
    {
        var forwards = await session.Query<VmForward>().Where(f => f.VmId == vmId).ToListAsync(ct);
        var hosts = (await session.LoadManyAsync<HostRecord>(ct, forwards.Select(f => f.HostId).Distinct())).ToDictionary(h => h.Id);
        return [.. forwards.OrderBy(f => f.NicId, StringComparer.Ordinal).ThenBy(f => f.GuestPort).ThenBy(f => f.Protocol, StringComparer.Ordinal)
            .Select(f => new ForwardView(f.Id, f.NicId, f.Protocol, f.GuestPort, f.HostPort,
                ForwardRules.Reach(hosts.GetValueOrDefault(f.HostId) is { } h ? h.Vxlan?.Address ?? h.Name : "(no host)", f.HostPort)))];
    }

    /// <summary>How many forwards the owner's VMs have.</summary>
    public static Task<int> CountAsync(IQuerySession session, Guid owner, CancellationToken ct = default) =>
        session.Query<VmForward>().CountAsync(f => f.OwnerId == owner, ct);

    /// <summary>How many forwards the owner's VMs have and how many they may have; null for no limit.</summary>
    public static async Task<(int InUse, int? Limit)> QuotaOfAsync(IQuerySession session, Guid owner, CancellationToken ct = default) =>
        (await CountAsync(session, owner, ct), (await QuotaService.EffectiveAsync(session, owner, group: false, ct)).Limits.PortForwards);

    public async Task<Guid> AddAsync(ClaimsPrincipal actor, ForwardTarget target, NewForward request, CancellationToken ct = default)
    {
        var range = Range;
        if (ForwardRules.Problem(request, range) is { } problem)
        {
            throw new RefusedException(problem.Problem, problem.Field);
        }

        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            // The owner's quota lock: forwards asked for at once are counted one after the other.
            await TransactionLocks.TakeAsync(session, TransactionLocks.Quota, target.OwnerId, ct);
            var network = await ForwardableAsync(session, target, request.NicId, ct);
            var (inUse, limit) = await QuotaOfAsync(session, target.OwnerId, ct);
            if (ForwardRules.OverQuota(inUse, limit) is { } over)
            {
                throw new RefusedException(over);
            }

            var port = ForwardRules.Pick(range, await TakenAsync(session, target.HostId, request.Protocol, ct), request.HostPort);
            if (port is null || (request.HostPort is { } asked && port != asked))
            {
                throw new RefusedException(request.HostPort is { } taken
                    ? $"Host port: {request.Protocol} {taken} is taken on this VM's host; leave it empty for a free one."
                    : $"Host port: no {request.Protocol} port of {range.First}-{range.Last} is free on this VM's host.", "hostPort");
            }

            var forward = new VmForward
            {
                Id = Guid.NewGuid(), VmId = target.VmId, NicId = request.NicId, NetworkId = network.Id, OwnerId = target.OwnerId,
                HostId = target.HostId, Protocol = request.Protocol, HostPort = port.Value, GuestPort = request.GuestPort,
            };
            session.Insert(forward);
            audit.Add(session, actor, AuditKind.NetworkChanged, $"Forward {request.Protocol} host port {port} to '{target.VmName}' {request.NicId} port {request.GuestPort}", target.VmId);
            if (await SavedAsync(session, attempt < 10 && request.HostPort is null, ct))
            {
                changes.Publish(new NetworksChanged(network.Id));
                return forward.Id;
            }
        }
    }

    public async Task DeleteAsync(ClaimsPrincipal actor, ForwardTarget target, Guid forwardId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var forward = await session.LoadAsync<VmForward>(forwardId, ct);
        if (forward is null || forward.VmId != target.VmId)
        {
            throw new ForwardNotFoundException();
        }

        session.Delete(forward);
        audit.Add(session, actor, AuditKind.NetworkChanged, $"Delete the forward of {forward.Protocol} host port {forward.HostPort} to '{target.VmName}' {forward.NicId} port {forward.GuestPort}", target.VmId);
        await session.SaveChangesAsync(ct);
        changes.Publish(new NetworksChanged(forward.NetworkId));
    }

    /// <summary>
    /// Forwards whose VM now runs on another host (it migrated) take a free port there, the same one
    /// when it is free; their address changes with the host. Returns every forward as it now stands,
    /// and the VMs whose forwards moved.
    /// </summary>
    public async Task<(IReadOnlyList<VmForward> Forwards, IReadOnlyList<VmChanged> Moved)> FollowAsync(
        IReadOnlyDictionary<Guid, Guid> hostOfVm, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var all = await session.Query<VmForward>().ToListAsync(ct);
        var moved = all.Where(f => hostOfVm.TryGetValue(f.VmId, out var host) && host != f.HostId).ToList();
        if (moved.Count == 0)
        {
            return (all, []);
        }

        var gone = new HashSet<VmForward>();
        foreach (var forward in moved)
        {
            var host = hostOfVm[forward.VmId];
            var taken = (await TakenAsync(session, host, forward.Protocol, ct)).Concat(
                moved.Where(m => m.HostId == host && m.Protocol == forward.Protocol && m != forward).Select(m => m.HostPort)).ToHashSet();
            if (ForwardRules.Pick(Range, taken, forward.HostPort) is { } port)
            {
                (forward.HostId, forward.HostPort) = (host, port);
                session.Store(forward);
            }
            else
            {
                // No port left on the new host: the forward goes rather than point at the wrong host.
                session.Delete(forward);
                gone.Add(forward);
            }
        }

        if (!await SavedAsync(session, retry: true, ct))
        {
            // Another forward took a port meanwhile: nothing moved; the next push tries again.
            await using var fresh = store.QuerySession();
            return (await fresh.Query<VmForward>().ToListAsync(ct), []);
        }

        return ([.. all.Where(f => !gone.Contains(f))], [.. moved.Select(f => new VmChanged(f.VmId, f.OwnerId)).Distinct()]);
    }

    /// <summary>The NIC's network, when it has NAT: the way in is its transit link; an isolated NIC or a network without NAT has none.</summary>
    private static async Task<TenantNetwork> ForwardableAsync(IDocumentSession session, ForwardTarget target, string nicId, CancellationToken ct)
    {
        var nic = await session.Query<NicAddress>().FirstOrDefaultAsync(a => a.VmId == target.VmId && a.NicId == nicId, ct);
        var network = nic is null ? null : await session.LoadAsync<TenantNetwork>(nic.NetworkId, ct);
        return ForwardRules.NotForwardable(nicId, target.VmName, network) is { } refusal ? throw new RefusedException(refusal, "nic") : network!;
    }

    private static async Task<IReadOnlySet<int>> TakenAsync(IQuerySession session, Guid hostId, string protocol, CancellationToken ct) =>
        (await session.Query<VmForward>().Where(f => f.HostId == hostId && f.Protocol == protocol).Select(f => f.HostPort).ToListAsync(ct)).ToHashSet();

    /// <summary>Saves; false when another forward took the port meanwhile and <paramref name="retry"/> allows picking again.</summary>
    private static async Task<bool> SavedAsync(IDocumentSession session, bool retry, CancellationToken ct)
    {
        try
        {
            await session.SaveChangesAsync(ct);
            return true;
        }
        catch (Exception e) when (StoreConflicts.UniqueViolation(e) is not null)
        {
            return retry ? false : throw new RefusedException("Host port: another forward took it meanwhile; try again.", "hostPort");
        }
    }
}
