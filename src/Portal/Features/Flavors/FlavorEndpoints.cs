using Marten;

namespace Paddock.Portal.Features.Flavors;

public static class FlavorEndpoints
{
    public static void MapFlavorEndpoints(this IEndpointRouteBuilder app)
    {
        // The flavors the caller may use; admins change them on their page.
        app.MapGet("/api/flavors", async (HttpContext http, IDocumentStore store) =>
        {
            await using var session = store.QuerySession();
            return await FlavorService.AvailableAsync(session, http.User, http.RequestAborted);
        }).RequireAuthorization().WithTags("Flavors").WithSummary("The flavors you may use.");
    }
}
