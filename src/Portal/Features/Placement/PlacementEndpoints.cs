using Marten;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Placement;

/// <summary>Whether VMs may start on the host without the walls it lacks.</summary>
public sealed record UnconfinedBody(bool Allowed);

/// <summary>The host's own policy, or null to follow the fleet's.</summary>
public sealed record HostPolicyBody(OvercommitPolicy? Policy);

/// <summary>A host's capacity as the API shows it (MiB for memory and disk).</summary>
public sealed record CapacityView(Guid Id, string Name, bool Reachable, bool Maintenance, int Cpus, long MemoryMiB, long DiskMiB, OvercommitPolicy Policy, Resources Capacity, Resources Allocated, Resources Free);

/// <summary>Admins only: capacity and the overcommit policies (maintenance is the Maintenance feature's).</summary>
public static class PlacementEndpoints
{
    public static void MapPlacementEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").RequireAuthorization().WithTags("Hosts");

        api.MapGet("/capacity", async (HttpContext http, IDocumentStore store) =>
        {
            if (!http.User.IsAdmin())
            {
                return Forbidden();
            }

            await using var session = store.QuerySession();
            return Results.Ok((await PlacementService.HostsAsync(session, http.RequestAborted)).Select(h => new CapacityView(
                h.Id, h.Name, h.Reachable, h.Maintenance, h.Cpus, h.MemoryMiB, h.DiskMiB, h.Policy, Placement.Capacity(h), h.Allocated, Placement.Free(h))));
        }).WithSummary("Admins: each host's capacity, allocation and room.").Produces<IEnumerable<CapacityView>>();

        api.MapPut("/hosts/{id:guid}/unconfined", (Guid id, UnconfinedBody body, HttpContext http, PlacementService placements) =>
            AdminAsync(http, () => placements.SetAllowUnconfinedAsync(http.User, id, body.Allowed, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: whether a host whose agent cannot confine VMs may take them.").Produces(204);

        api.MapPut("/hosts/{id:guid}/policy", (Guid id, HostPolicyBody body, HttpContext http, PlacementService placements) =>
            AdminAsync(http, () => placements.SetHostPolicyAsync(http.User, id, body.Policy, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: a host's own overcommit policy, or null for the fleet's.").Produces(204);

        api.MapPut("/policy/overcommit", (OvercommitPolicy policy, HttpContext http, PlacementService placements) =>
            AdminAsync(http, () => placements.SetFleetPolicyAsync(http.User, policy, http.RequestAborted))).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Admins: the fleet's overcommit policy.").Produces(204);
    }

    private static async Task<IResult> AdminAsync(HttpContext http, Func<Task> change)
    {
        if (!http.User.IsAdmin())
        {
            return Forbidden();
        }

        try
        {
            await change();
            return Results.NoContent();
        }
        catch (RefusedException e)
        {
            return ApiAnswers.Refused(e);
        }
    }

    private static IResult Forbidden() => Results.Problem(statusCode: 403, title: "Only admins see and change placement.");
}
