using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Components.Endpoints;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.StaticAssets;

namespace Paddock.Portal;

/// <summary>
/// <c>routes</c>: prints every endpoint the portal maps, as JSON lines, from the running app's own
/// endpoint data sources (the walls test holds them against its table of what each takes): pages,
/// API endpoints, hubs with their methods (and the shapes of their arguments), and static files counted as one line. Pages and
/// endpoints list their parameters (see <see cref="RouteParameters"/>) for the fuzz test.
/// </summary>
public static class PortalRoutes
{
    public static int Print(WebApplication app)
    {
        var staticFiles = 0;
        var seen = new HashSet<string>();
        foreach (var endpoint in ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>())
        {
            var route = "/" + endpoint.RoutePattern.RawText?.TrimStart('/');
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods is { Count: > 0 } list ? string.Join(',', list.Order()) : "*";
            string line;
            if (endpoint.Metadata.GetMetadata<ComponentTypeMetadata>() is { } component)
            {
                line = JsonSerializer.Serialize(new { kind = "page", route, methods, type = component.Type.FullName, parameters = RouteParameters.OfPage(endpoint, component.Type) });
            }
            else if (endpoint.Metadata.GetMetadata<HubMetadata>() is { } hub)
            {
                var invocable = hub.HubType.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
                    .Where(m => !m.IsSpecialName && m.Name is not ("OnConnectedAsync" or "OnDisconnectedAsync" or "Dispose")).OrderBy(m => m.Name).ToList();
                var hubMethods = invocable.Select(m => m.Name);
                var hubParameters = RouteParameters.OfHubMethods(invocable);
                line = JsonSerializer.Serialize(new { kind = "hub", route, methods, type = hub.HubType.FullName, hubMethods, hubParameters });
            }
            else if (endpoint.Metadata.GetMetadata<StaticAssetDescriptor>() is not null && endpoint.RoutePattern.Parameters.Count == 0)
            {
                // Files from wwwroot and packages (scripts, styles, noVNC): public, they take nothing.
                staticFiles++;
                continue;
            }
            else
            {
                line = JsonSerializer.Serialize(new { kind = "endpoint", route, methods, parameters = RouteParameters.OfEndpoint(endpoint) });
            }

            if (seen.Add(line))
            {
                System.Console.WriteLine(line);
            }
        }

        System.Console.WriteLine(JsonSerializer.Serialize(new { kind = "static", count = staticFiles }));
        return 0;
    }
}
