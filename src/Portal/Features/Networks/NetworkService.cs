using System.Security.Claims;
using JasperFx;
using Marten;
using Microsoft.Extensions.Options;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Networks;

/// <summary>A network to make: <paramref name="GroupId"/> shares it with one of the owner's groups.</summary>
public sealed record NewNetwork(string Name, string Cidr, bool Nat = true, Guid? GroupId = null);

/// <summary>What may change of a network; what is left out stays. <paramref name="Everyone"/> and <paramref name="Groups"/>: a provider network's offer.</summary>
public sealed record NetworkEdit(string? Name = null, bool? Nat = null, bool? Everyone = null, IReadOnlyList<Guid>? Groups = null);

/// <summary>A network with what a list shows beside it: the caller's role, names, the NICs on it, and the groups a provider network is offered to (for admins; others see none).</summary>
public sealed record NetworkSummary(TenantNetwork Network, NetworkRole Role, string OwnerName, string? GroupName, IReadOnlyList<NicAddress> Nics, IReadOnlyList<string> OfferedTo);

/// <summary>The network does not exist or is not the caller's to see: the same answer for both.</summary>
public sealed class NetworkNotFoundException() : Exception("No such network.");

/// <summary>Tenant networks: make, edit and delete them (each an event), and put NICs on them with an address each.</summary>
public sealed partial class NetworkService(
    IDocumentStore store, IOptions<NetworkOptions> options, Audit audit, ChangeNotifier<NetworksChanged> changes, TimeProvider clock)
{
    public static async Task<IReadOnlyList<NetworkSummary>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, user.UserId(), ct);
        var visible = (await session.Query<TenantNetwork>().OrderBy(n => n.Name).ToListAsync(ct))
            .Select(n => (Network: n, Role: NetworkRights.RoleOf(n, user.UserId(), user.IsAdmin(), groups)))
            .Where(n => n.Role != NetworkRole.Stranger)
            // An admin's list starts with their own, as everyone else's does.
            .OrderBy(n => n.Network.OwnerId != user.UserId()).ThenBy(n => n.Network.Name, StringComparer.Ordinal).ToList();
        var ids = visible.Select(n => n.Network.Id).ToList();
        var nics = (await session.Query<NicAddress>().Where(a => ids.Contains(a.NetworkId)).ToListAsync(ct)).ToLookup(a => a.NetworkId);
        var owners = (await session.LoadManyAsync<PortalUser>(ct, visible.Select(n => n.Network.OwnerId).Distinct())).ToDictionary(u => u.Id, u => u.UserName);
        var groupNames = (await session.Query<Group>().ToListAsync(ct)).ToDictionary(g => g.Id, g => g.Name);
        return [.. visible.Select(n => new NetworkSummary(
            n.Network, n.Role, owners.GetValueOrDefault(n.Network.OwnerId, "(removed user)"),
            n.Network.GroupId is { } g ? groupNames.GetValueOrDefault(g) : null,
            [.. nics[n.Network.Id].OrderBy(a => Ipv4Cidr.ParseAddress(a.Address)).ThenBy(a => a.Address, StringComparer.Ordinal)],
            // Which other groups may use it is an admin's business.
            n.Role == NetworkRole.Admin && n.Network.Offer is { } offer ? [.. offer.Groups.Select(g => groupNames.GetValueOrDefault(g, "(removed group)")).Order(StringComparer.Ordinal)] : []))];
    }

    public static async Task<NetworkSummary?> FindAsync(IQuerySession session, ClaimsPrincipal user, Guid id, CancellationToken ct = default) =>
        (await ListAsync(session, user, ct)).FirstOrDefault(s => s.Network.Id == id);

    /// <summary>How many networks the caller has (their default one not counted) and how many they may have; null for no limit.</summary>
    public static async Task<(int InUse, int? Limit)> QuotaOfAsync(IQuerySession session, Guid owner, CancellationToken ct = default) =>
        (await session.Query<TenantNetwork>().CountAsync(n => n.OwnerId == owner && !n.IsDefault && n.Provider == null, ct),
            (await QuotaService.EffectiveAsync(session, owner, group: false, ct)).Limits.Networks);

    public async Task<Guid> CreateAsync(ClaimsPrincipal user, NewNetwork request, CancellationToken ct = default)
    {
        Check(NetworkRules.NameProblem(request.Name), "name");
        var owner = user.UserId();
        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            // The same lock as the owner's VM admissions: two creates count the networks one after the other.
            await TransactionLocks.TakeAsync(session, TransactionLocks.Quota, owner, ct);
            if (request.GroupId is { } group && !(await GroupService.GroupsOfAsync(session, owner, ct)).Contains(group))
            {
                throw new RefusedException("Group: one of the groups you are in.", "group");
            }

            Check(NetworkRules.CidrProblem(request.Cidr, await ReservedAsync(session, ct), await OwnNetworksAsync(session, owner, ct)), "cidr");
            var (inUse, limit) = await QuotaOfAsync(session, owner, ct);
            if (inUse >= limit)
            {
                throw new RefusedException($"Over quota: networks: you have {inUse} of {limit} (your default network not counted); delete one first or ask an admin for more.");
            }

            var cidr = Ipv4Cidr.Parse(request.Cidr.Trim())!.Value;
            var id = (await StartAsync(session, user, owner, request with { Name = request.Name.Trim(), Cidr = cidr.ToString() }, isDefault: false, ct)).Id;
            if (await SavedAsync(session, request.Name.Trim(), attempt, ct))
            {
                changes.Publish(new NetworksChanged(id));
                return id;
            }
        }
    }

    public async Task EditAsync(ClaimsPrincipal user, Guid id, NetworkEdit edit, CancellationToken ct = default)
    {
        if (edit.Name is not null)
        {
            Check(NetworkRules.NameProblem(edit.Name), "name");
        }

        await using var session = store.LightweightSession();
        var network = await ChangeableAsync(session, user, id, "edit", ct);
        var (name, nat) = (edit.Name?.Trim() ?? network.Name, network.IsProvider ? false : edit.Nat ?? network.Nat);
        if (!nat && network.Nat && await session.Query<VmForward>().AnyAsync(f => f.NetworkId == id, ct))
        {
            throw new RefusedException($"NAT: '{network.Name}' has port forwards, which come in through NAT; delete them first.", "nat");
        }

        var offer = network.Offer is { } was && (edit.Everyone is not null || edit.Groups is not null)
            ? await OfferAsync(session, edit.Everyone ?? was.Everyone, edit.Groups ?? was.Groups, ct)
            : null;
        session.Events.Append(id, network.Version + 1, new NetworkEdited(name, nat, user.UserId(), user.Identity?.Name ?? "", clock.GetUtcNow(), offer));
        audit.Add(session, user, AuditKind.NetworkChanged, network.IsProvider
            ? $"Edit provider network '{network.Name}': name '{name}', offered to {await OfferTextAsync(session, offer ?? network.Offer!, ct)}"
            : $"Edit network '{network.Name}' ({network.Cidr}): name '{name}', NAT {(nat ? "on" : "off")}");
        if (!await SavedAsync(session, name, int.MaxValue, ct))
        {
            throw new RefusedException("The network changed meanwhile; look at it and try again.");
        }

        changes.Publish(new NetworksChanged(id));
    }

    /// <summary>Deletes a network that no NIC is on; otherwise refuses, naming the VMs.</summary>
    public async Task DeleteAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        // Attaching a NIC takes the same lock: no NIC lands on a network being deleted.
        await TransactionLocks.TakeAsync(session, TransactionLocks.Network, id, ct);
        var network = await ChangeableAsync(session, user, id, "delete", ct);
        var attached = await session.Query<NicAddress>().Where(a => a.NetworkId == id).ToListAsync(ct);
        if (attached.Count > 0)
        {
            var names = attached.Select(a => $"'{a.VmName}'").Distinct().Order(StringComparer.Ordinal).ToList();
            throw new RefusedException($"Network '{network.Name}' has NICs attached: VM{(names.Count == 1 ? "" : "s")} {string.Join(", ", names)}. Remove those NICs or delete the VMs first.");
        }

        session.Events.Append(id, network.Version + 1, new NetworkDeleted(user.UserId(), user.Identity?.Name ?? "", clock.GetUtcNow()));
        audit.Add(session, user, AuditKind.NetworkChanged, $"Delete network '{network.Name}' ({network.Cidr}, VNI {network.Vni})");
        if (!await SavedAsync(session, network.Name, int.MaxValue, ct))
        {
            throw new RefusedException("The network changed meanwhile; look at it and try again.");
        }

        changes.Publish(new NetworksChanged(id));
    }

    /// <summary>The network for its owner or an admin; a group member is told whose word it is, anyone else that it does not exist.</summary>
    private static async Task<TenantNetwork> ChangeableAsync(IDocumentSession session, ClaimsPrincipal user, Guid id, string verb, CancellationToken ct)
    {
        var (network, role) = await NetworkRights.FindAsync(session, user, id, ct) ?? throw new NetworkNotFoundException();
        return NetworkRights.MayChange(role) ? network : throw new NetworkForbiddenException($"Only the owner of '{network.Name}' or an admin may {verb} it.");
    }

    /// <summary>Starts a network's stream in <paramref name="session"/> with a VNI no network holds (the unique index decides a race for one).</summary>
    private async Task<TenantNetwork> StartAsync(IDocumentSession session, ClaimsPrincipal user, Guid owner, NewNetwork request, bool isDefault, CancellationToken ct)
    {
        var vni = await FreeVniAsync(session, ct);
        var id = Guid.NewGuid();
        var gateway = Ipv4Cidr.Format(Ipv4Cidr.Parse(request.Cidr)!.Value.Gateway);
        var created = new NetworkCreated(
            id, owner, request.GroupId, request.Name, request.Cidr, gateway, request.Nat, vni, isDefault, user.UserId(), user.Identity?.Name ?? "", clock.GetUtcNow());
        session.Events.StartStream<TenantNetwork>(id, created);
        audit.Add(session, user, AuditKind.NetworkChanged, $"Create network '{request.Name}' ({request.Cidr}, NAT {(request.Nat ? "on" : "off")}, VNI {vni})");
        return TenantNetwork.Create(created);
    }

    /// <summary>A VNI no network holds now (provider networks take one too: it names their devices on hosts).</summary>
    private static async Task<int> FreeVniAsync(IQuerySession session, CancellationToken ct)
    {
        var taken = (await session.Query<TenantNetwork>().Select(n => n.Vni).ToListAsync(ct)).ToHashSet();
        return Enumerable.Range(0, 64).Select(_ => System.Security.Cryptography.RandomNumberGenerator.GetInt32(1, MaxVni + 1)).First(v => !taken.Contains(v));
    }

    /// <summary>The highest VXLAN id (24 bits).</summary>
    public const int MaxVni = 16_777_215;

    /// <summary>Saves; false when a VNI was drawn twice (decide again while <paramref name="attempt"/> allows); a name in use is refused.</summary>
    private static async Task<bool> SavedAsync(IDocumentSession session, string name, int attempt, CancellationToken ct)
    {
        try
        {
            await session.SaveChangesAsync(ct);
            return true;
        }
        catch (Exception e) when (StoreConflicts.UniqueViolation(e) is { } constraint)
        {
            if (constraint.Contains("vni", StringComparison.Ordinal) && attempt < 10)
            {
                return false;
            }

            throw new RefusedException($"Name: you already have a network called '{name}'.", "name");
        }
        catch (ConcurrencyException) when (attempt < 10)
        {
            return false;
        }
    }

    private async Task<IReadOnlyList<ReservedRange>> ReservedAsync(IQuerySession session, CancellationToken ct) =>
        NetworkRules.Reserved(options.Value.Reserved,
            (await session.Query<HostRecord>().ToListAsync(ct)).Select(h => h.Vxlan?.Address).OfType<string>());

    private static async Task<IReadOnlyList<(string Name, string Cidr)>> OwnNetworksAsync(IQuerySession session, Guid owner, CancellationToken ct) =>
        [.. (await session.Query<TenantNetwork>().Where(n => n.OwnerId == owner && n.Provider == null).ToListAsync(ct)).Select(n => (n.Name, n.Cidr))];

    private static void Check(string? problem, string field)
    {
        if (problem is not null)
        {
            throw new RefusedException(problem, field);
        }
    }
}

/// <summary>A group member asked for what is the network owner's word: a 403 that says so.</summary>
public sealed class NetworkForbiddenException(string message) : RefusedException(message)
{
    public override IResult ToProblem(Dictionary<string, object?>? offer) => Results.Problem(statusCode: 403, title: Message);
}
