using System.Security.Claims;
using Marten;
using Paddock.Engine.Networks;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Networks;

/// <summary>
/// A provider network to make (admins only): a bridge to <paramref name="Interface"/> on every host
/// that carries it, optionally tagged <paramref name="Vlan"/>; <paramref name="Cidr"/> and
/// <paramref name="Gateway"/> tell users what the outside network gives (information only);
/// offered to <paramref name="Everyone"/> or to the members of <paramref name="Groups"/>.
/// </summary>
public sealed record NewProviderNetwork(
    string Name, string Interface, int? Vlan = null, string? Cidr = null, string? Gateway = null, bool Everyone = false, IReadOnlyList<Guid>? Groups = null);

public sealed partial class NetworkService
{
    public async Task<Guid> CreateProviderAsync(ClaimsPrincipal user, NewProviderNetwork request, CancellationToken ct = default)
    {
        if (!user.IsAdmin())
        {
            throw new NetworkForbiddenException("Only an admin may create a provider network.");
        }

        var name = request.Name?.Trim() ?? "";
        Check(NetworkRules.NameProblem(name) ?? (name == NetworkRules.DefaultName ? "Name: 'default' is each user's own network; choose another." : null), "name");
        Check(ProviderRules.InterfaceProblem(request.Interface), "interface");
        Check(ProviderRules.VlanProblem(request.Vlan), "vlan");
        var (field, problem) = ProviderRules.InformationProblem(request.Cidr, request.Gateway);
        Check(problem, field ?? "cidr");
        var link = new ProviderLink(request.Interface.Trim(), request.Vlan);
        for (var attempt = 0; ; attempt++)
        {
            await using var session = store.LightweightSession();
            var offer = await OfferAsync(session, request.Everyone, request.Groups, ct);
            var same = (await session.Query<TenantNetwork>().Where(n => n.Provider != null).ToListAsync(ct)).FirstOrDefault(n => n.Provider == link);
            Check(same is null ? null : $"Host interface: {ProviderRules.Describe(link)} is already provider network '{same!.Name}'.", "interface");
            var cidr = string.IsNullOrWhiteSpace(request.Cidr) ? "" : Ipv4Cidr.Parse(request.Cidr.Trim())!.Value.ToString();
            var gateway = string.IsNullOrWhiteSpace(request.Gateway) ? "" : request.Gateway.Trim();
            var id = Guid.NewGuid();
            var vni = await FreeVniAsync(session, ct);
            session.Events.StartStream<TenantNetwork>(id, new NetworkCreated(
                id, user.UserId(), null, name, cidr, gateway, false, vni, false, user.UserId(), user.Identity?.Name ?? "", clock.GetUtcNow(), link, offer));
            audit.Add(session, user, AuditKind.NetworkChanged,
                $"Create provider network '{name}' ({ProviderRules.Describe(link)}, VNI {vni}), offered to {await OfferTextAsync(session, offer, ct)}");
            if (await SavedAsync(session, name, attempt, ct))
            {
                changes.Publish(new NetworksChanged(id));
                return id;
            }
        }
    }

    /// <summary>The offer as asked: every group must exist; none and not everyone is refused.</summary>
    private static async Task<ProviderOffer> OfferAsync(IQuerySession session, bool everyone, IReadOnlyList<Guid>? groups, CancellationToken ct)
    {
        var ids = (groups ?? []).Distinct().ToList();
        var known = (await session.LoadManyAsync<Group>(ct, ids)).Select(g => g.Id).ToHashSet();
        Check(ids.All(known.Contains) ? null : "Offered to: a group that does not exist.", "groups");
        var offer = new ProviderOffer(everyone, everyone ? [] : ids);
        Check(ProviderRules.OfferProblem(offer), "groups");
        return offer;
    }

    private static async Task<string> OfferTextAsync(IQuerySession session, ProviderOffer offer, CancellationToken ct) =>
        offer.Everyone ? "everyone" : "groups " + string.Join(", ", (await session.LoadManyAsync<Group>(ct, offer.Groups)).Select(g => $"'{g.Name}'").Order(StringComparer.Ordinal));
}
