using System.Security.Claims;
using Marten;
using Paddock.Engine.Networks;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Networks;

/// <summary>
/// Where a NIC goes: a network its VM's owner may use, the owner's default network (no id, not
/// isolated), or QEMU's isolated user-mode NAT (internet only).
/// </summary>
public sealed record NicChoice(Guid? NetworkId = null, bool Isolated = false)
{
    public static readonly NicChoice Default = new();

    public static readonly NicChoice Isolation = new(Isolated: true);

    /// <summary>Where a NIC that exists is: the same choice for its copy (a clone's).</summary>
    public static NicChoice Of(NicNetwork? network) => network is null ? Isolation : new(network.Network.Id);

    /// <summary>The field a refusal about the NIC at <paramref name="index"/> of a new VM's list names: <c>nics[0]</c>, <c>nics[1]</c>…</summary>
    public static string FieldOf(int index) => $"nics[{index}]";

    /// <summary>Whether a NIC of these goes on a tenant network (none given: one NIC, on the default network).</summary>
    public static bool AnyOnNetwork(IReadOnlyList<NicChoice>? nics) => nics is null || nics.Any(n => !n.Isolated);
}

/// <summary>A NIC of a VM to put on the network of its choice; a refusal about it names <paramref name="Field"/>.</summary>
public sealed record NicPlacement(string NicId, string Mac, NicChoice Choice, string Field = "network");

public sealed partial class NetworkService
{
    /// <summary>The networks a VM of <paramref name="owner"/> may have NICs on: theirs and their groups'.</summary>
    public static async Task<IReadOnlyList<TenantNetwork>> UsableAsync(IQuerySession session, Guid owner, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, owner, ct);
        return [.. (await session.Query<TenantNetwork>().OrderBy(n => n.Name).ToListAsync(ct)).Where(n => NetworkRights.MayAttach(n, owner, groups))];
    }

    /// <summary>
    /// In <paramref name="session"/> (the caller's transaction, which it saves): puts each NIC on its
    /// network with the lowest free address, making the owner's default network on first use. Null
    /// for an isolated NIC. A network another VM takes an address of meanwhile is decided by the
    /// unique index on network and address; the caller tries again.
    /// </summary>
    public async Task<IReadOnlyList<NicNetwork?>> AttachAsync(
        IDocumentSession session, ClaimsPrincipal actor, Guid owner, Guid vmId, string vmName, IReadOnlyList<NicPlacement> nics, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, owner, ct);
        var held = new Dictionary<Guid, (TenantNetwork Network, List<string> Taken)>();
        var result = new List<NicNetwork?>();
        foreach (var nic in nics)
        {
            if (nic.Choice.Isolated)
            {
                Check(nic.Choice.NetworkId is null ? null : "NICs: a network or isolated, not both.", nic.Field);
                result.Add(null);
                continue;
            }

            var network = nic.Choice.NetworkId is { } id
                ? (held.TryGetValue(id, out var known) ? known.Network : await LockedAsync(session, id, ct))
                : held.Values.Select(h => h.Network).FirstOrDefault(n => n.OwnerId == owner && n.Name == NetworkRules.DefaultName)
                    ?? await DefaultAsync(session, actor, owner, ct);
            if (network is null || !NetworkRights.MayAttach(network, owner, groups))
            {
                throw new RefusedException("Network: no such network.", nic.Field);
            }

            if (network.IsProvider)
            {
                // The outside network gives the address; the row holds the NIC's MAC, for the lists and the delete check.
                session.Insert(new NicAddress { Id = Guid.NewGuid(), NetworkId = network.Id, Address = nic.Mac.ToLowerInvariant(), VmId = vmId, VmName = vmName, NicId = nic.NicId, Mac = nic.Mac });
                result.Add(new NicNetwork(network.Spec, ""));
                continue;
            }

            if (!held.TryGetValue(network.Id, out var entry))
            {
                entry = held[network.Id] = (network, [.. await session.Query<NicAddress>().Where(a => a.NetworkId == network.Id).Select(a => a.Address).ToListAsync(ct)]);
            }

            var address = NetworkRules.FreeAddress(network.Cidr, entry.Taken)
                ?? throw new RefusedException($"Network: '{network.Name}' ({network.Cidr}) has no free address left.", nic.Field);
            entry.Taken.Add(address);
            session.Insert(new NicAddress { Id = Guid.NewGuid(), NetworkId = network.Id, Address = address, VmId = vmId, VmName = vmName, NicId = nic.NicId, Mac = nic.Mac });
            result.Add(new NicNetwork(network.Spec, address));
        }

        return result;
    }

    /// <summary>In <paramref name="session"/>: frees the addresses and forwards of the VM's NICs other than <paramref name="nicIds"/> (all of them when the VM is gone).</summary>
    public static async Task KeepOnlyAsync(IDocumentSession session, Guid vmId, IReadOnlyCollection<string> nicIds, CancellationToken ct = default)
    {
        foreach (var gone in (await session.Query<NicAddress>().Where(a => a.VmId == vmId).ToListAsync(ct)).Where(a => !nicIds.Contains(a.NicId)))
        {
            session.Delete(gone);
        }

        foreach (var gone in (await session.Query<VmForward>().Where(f => f.VmId == vmId).ToListAsync(ct)).Where(f => !nicIds.Contains(f.NicId)))
        {
            session.Delete(gone);
        }
    }

    /// <summary>The network, once this transaction holds its lock (a delete holds it too, so a network being deleted gets no NIC).</summary>
    private static async Task<TenantNetwork?> LockedAsync(IDocumentSession session, Guid id, CancellationToken ct)
    {
        await TransactionLocks.TakeAsync(session, TransactionLocks.Network, id, ct);
        return await session.LoadAsync<TenantNetwork>(id, ct);
    }

    /// <summary>The owner's network called "default", made now (NAT on, the first free /24 from 10.0.0.0/24) when they have none.</summary>
    private async Task<TenantNetwork> DefaultAsync(IDocumentSession session, ClaimsPrincipal actor, Guid owner, CancellationToken ct)
    {
        var existing = await session.Query<TenantNetwork>().FirstOrDefaultAsync(n => n.OwnerId == owner && n.Name == NetworkRules.DefaultName, ct);
        if (existing is not null)
        {
            return await LockedAsync(session, existing.Id, ct) ?? existing;
        }

        var cidr = NetworkRules.DefaultCidrFor(await ReservedAsync(session, ct), await OwnNetworksAsync(session, owner, ct));
        return await StartAsync(session, actor, owner, new NewNetwork(NetworkRules.DefaultName, cidr), isDefault: true, ct);
    }
}
