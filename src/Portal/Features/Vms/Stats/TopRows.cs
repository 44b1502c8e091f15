using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Vms;

/// <summary>A line of the top table: a VM, whose it is, where it runs, and its newest sample (CPU in per cent of its vCPUs).</summary>
public sealed record TopRow(Guid VmId, string Name, string Owner, Guid HostId, string Host, int VCpus, VmSample Sample)
{
    public double CpuPercent => Sample.CpuCores * 100.0 / Math.Max(1, VCpus);
}

/// <summary>What the top table knows of each VM besides its samples, read from the store now and then (names change seldom).</summary>
public sealed record TopNames(IReadOnlyDictionary<Guid, (string Name, string Owner, Guid HostId, int VCpus)> Vms, IReadOnlyDictionary<Guid, string> Hosts)
{
    public static readonly TopNames None = new(new Dictionary<Guid, (string, string, Guid, int)>(), new Dictionary<Guid, string>());

    public static async Task<TopNames> ReadAsync(IQuerySession session, CancellationToken ct)
    {
        var vms = await session.Query<Vm>().Select(v => new VmName(v.Id, v.Name, v.OwnerId, v.HostId, v.VCpus)).ToListAsync(ct);
        var owners = (await session.LoadManyAsync<PortalUser>(ct, vms.Select(v => v.OwnerId).Distinct())).ToDictionary(u => u.Id, u => u.UserName);
        var hosts = (await session.Query<HostRecord>().Select(h => new HostName(h.Id, h.Name)).ToListAsync(ct)).ToDictionary(h => h.Id, h => h.Name);
        return new(vms.ToDictionary(v => v.Id, v => (v.Name, owners.GetValueOrDefault(v.OwnerId) ?? "", v.HostId, v.VCpus)), hosts);
    }

    /// <summary>The rows of the VMs that have a sample, on <paramref name="host"/> or on any.</summary>
    public IReadOnlyList<TopRow> Rows(IReadOnlyDictionary<Guid, VmSample> latest, Guid? host) =>
        [.. latest.Where(l => Vms.ContainsKey(l.Key)).Select(l =>
            {
                var (name, owner, hostId, vCpus) = Vms[l.Key];
                return new TopRow(l.Key, name, owner, hostId, Hosts.GetValueOrDefault(hostId) ?? "", vCpus, l.Value);
            })
            .Where(r => host is null || r.HostId == host)];

    private sealed record VmName(Guid Id, string Name, Guid OwnerId, Guid HostId, int VCpus);

    private sealed record HostName(Guid Id, string Name);
}
