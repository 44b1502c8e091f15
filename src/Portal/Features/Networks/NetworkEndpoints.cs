using Marten;

namespace Paddock.Portal.Features.Networks;

/// <summary>A NIC on a network, as the API shows it.</summary>
public sealed record NetworkNicView(Guid VmId, string VmName, string Mac, string Address);

/// <summary>A provider network's link and offer, as the API shows it; <paramref name="Groups"/> by name.</summary>
public sealed record ProviderView(string Interface, int? Vlan, bool Everyone, IReadOnlyList<string> Groups);

/// <summary>
/// A network as the API shows it; <paramref name="MayChange"/>: the caller may edit and delete it;
/// <paramref name="Provider"/> set for a provider network (its NICs' addresses are then their MACs: the outside network gives the IPs).
/// </summary>
public sealed record NetworkView(
    Guid Id, string Name, string Cidr, string Gateway, bool Nat, int Vni, string Owner, string? Group, bool IsDefault, bool MayChange,
    IReadOnlyList<NetworkNicView> Nics, string CreatedBy, DateTimeOffset CreatedAt, string ChangedBy, DateTimeOffset ChangedAt, ProviderView? Provider)
{
    public static NetworkView Of(NetworkSummary s) => new(
        s.Network.Id, s.Network.Name, s.Network.Cidr, s.Network.Gateway, s.Network.Nat, s.Network.Vni, s.OwnerName, s.GroupName, s.Network.IsDefault,
        NetworkRights.MayChange(s.Role), [.. s.Nics.Select(n => new NetworkNicView(n.VmId, n.VmName, n.Mac, n.Address))],
        s.Network.CreatedBy, s.Network.CreatedAt, s.Network.ChangedBy, s.Network.ChangedAt,
        s.Network is { Provider: { } link, Offer: { } offer } ? new ProviderView(link.Interface, link.Vlan, offer.Everyone, s.OfferedTo) : null);
}

/// <summary>The network API; mutating calls need the <c>X-Paddock-Api</c> header.</summary>
public static class NetworkEndpoints
{
    public static void MapNetworkEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/networks").RequireAuthorization().WithTags("Networks");

        api.MapGet("/", async (int? limit, Guid? after, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return ListPages.Answer(http, (await NetworkService.ListAsync(session, http.User, http.RequestAborted)).Select(NetworkView.Of), n => n.Id, limit, after);
        }).WithSummary("The networks you may use (a page at a time with limit and after).").Produces<IEnumerable<NetworkView>>();

        api.MapGet("/{id:guid}", async (Guid id, HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await NetworkService.FindAsync(session, http.User, id, http.RequestAborted) is { } found ? Results.Ok(NetworkView.Of(found)) : NotFound();
        }).WithSummary("One network, with its NICs.").Produces<NetworkView>();

        api.MapPost("/", (NewNetwork request, HttpContext http, NetworkService networks, IDocumentStore store) => AnswerAsync(async () =>
        {
            var id = await networks.CreateAsync(http.User, request, http.RequestAborted);
            return Results.Created($"/api/networks/{id}", await ViewAsync(store, http, id));
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Creates a tenant network (a VXLAN segment of its own).").Produces<NetworkView>(201);

        // Admins only (403 for anyone else): a bridge to a host interface, offered to everyone or to groups.
        api.MapPost("/providers", (NewProviderNetwork request, HttpContext http, NetworkService networks, IDocumentStore store) => AnswerAsync(async () =>
        {
            var id = await networks.CreateProviderAsync(http.User, request, http.RequestAborted);
            return Results.Created($"/api/networks/{id}", await ViewAsync(store, http, id));
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Admins: a provider network on a host interface (and VLAN).").Produces<NetworkView>(201);

        api.MapPut("/{id:guid}", (Guid id, NetworkEdit edit, HttpContext http, NetworkService networks, IDocumentStore store) => AnswerAsync(async () =>
        {
            await networks.EditAsync(http.User, id, edit, http.RequestAborted);
            return Results.Ok(await ViewAsync(store, http, id));
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Renames a network or turns its NAT on or off.").Produces<NetworkView>();

        api.MapDelete("/{id:guid}", (Guid id, HttpContext http, NetworkService networks) => AnswerAsync(async () =>
        {
            await networks.DeleteAsync(http.User, id, http.RequestAborted);
            return Results.NoContent();
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Deletes a network no NIC is on.").Produces(204);
    }

    private static async Task<NetworkView?> ViewAsync(IDocumentStore store, HttpContext http, Guid id)
    {
        await using var session = store.QuerySession();
        return await NetworkService.FindAsync(session, http.User, id, http.RequestAborted) is { } found ? NetworkView.Of(found) : null;
    }

    private static Task<IResult> AnswerAsync(Func<Task<IResult>> request) => ApiAnswers.AnswerAsync<NetworkNotFoundException>(request, NotFoundTitle);

    private static IResult NotFound() => Results.Problem(statusCode: 404, title: NotFoundTitle);

    private const string NotFoundTitle = "No such network.";
}
