using Marten;
using Paddock.Engine.Contract;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>An open console session as the API shows it.</summary>
public sealed record ConsoleViewerView(string Id, string User, string Console, DateTimeOffset Since, string Address, bool ViewOnly)
{
    public static ConsoleViewerView Of(ConsoleViewer v) =>
        new(v.Id, v.UserName, v.Kind == ConsoleKind.Serial ? "serial" : "screen", v.Since, v.Address, v.ViewOnly);
}

/// <summary>A view-only share link as the API lists it (its secret is shown once, when it is made).</summary>
public sealed record ConsoleShareView(string Id, string MadeBy, DateTimeOffset MadeAt, DateTimeOffset ExpiresAt)
{
    public static ConsoleShareView Of(ConsoleShare s) => new(s.Id, s.MadeBy, s.MadeAt, s.ExpiresAt);
}

/// <summary>A share link just made: where it opens, once.</summary>
public sealed record MadeConsoleShare(string Id, string Url, DateTimeOffset ExpiresAt);

/// <param name="Minutes">How long the link lives: 15, 60, 480, 1440 or 10080.</param>
public sealed record ConsoleShareBody(int Minutes);

/// <summary>Who watches a VM's consoles, disconnecting one, and the view-only share links of its screen, through the API.</summary>
public static class ConsoleViewerEndpoints
{
    public static void MapConsoleViewerEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/vms/{id:guid}").RequireAuthorization().WithTags("Consoles");
        api.MapGet("/console-viewers", (Guid id, HttpContext http, IDocumentStore store, ConsoleViewers viewers) =>
            ListAsync(id, http, store, VmAction.Console, async () => (await viewers.ListAsync(id, http.RequestAborted)).Select(ConsoleViewerView.Of)))
            .WithSummary("Who is connected to the VM's consoles now, the oldest session first.").Produces<IEnumerable<ConsoleViewerView>>();

        api.MapDelete("/console-viewers/{viewerId}", (Guid id, string viewerId, HttpContext http, ConsoleViewers viewers) => VmEndpoints.AnswerAsync(async () =>
        {
            await viewers.DisconnectAsync(http.User, id, viewerId, http.RequestAborted);
            return Results.NoContent();
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Owner or admin: ends someone's console session; their page says who did.").Produces(204);

        api.MapGet("/console-shares", (Guid id, HttpContext http, IDocumentStore store, ConsoleShares shares) =>
            ListAsync(id, http, store, VmAction.ManageViewers, async () => (await shares.ListAsync(id, http.RequestAborted)).Select(ConsoleShareView.Of)))
            .WithSummary("Owner or admin: the view-only share links of the VM's screen that still open.").Produces<IEnumerable<ConsoleShareView>>();

        api.MapPost("/console-shares", (Guid id, ConsoleShareBody body, HttpContext http, ConsoleShares shares) => VmEndpoints.AnswerAsync(async () =>
        {
            var (share, secret) = await shares.MakeAsync(http.User, id, TimeSpan.FromMinutes(body.Minutes), http.RequestAborted);
            var url = $"{http.Request.Scheme}://{http.Request.Host}{ConsoleShares.PathOf(secret)}";
            return Results.Created(url, new MadeConsoleShare(share.Id, url, share.ExpiresAt));
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithMetadata(new NotForApiTokens())
            .WithSummary("Owner or admin, signed in (never an API token: a link opens a screen): a view-only link to the VM's screen, its URL shown once.")
            .Produces<MadeConsoleShare>(201);

        api.MapDelete("/console-shares/{shareId}", (Guid id, string shareId, HttpContext http, ConsoleShares shares) => VmEndpoints.AnswerAsync(async () =>
        {
            await shares.RevokeAsync(http.User, id, shareId, http.RequestAborted);
            return Results.NoContent();
        })).AddEndpointFilter(ApiAnswers.RequireApiHeader)
            .WithSummary("Owner or admin: revokes a share link; whoever watches through it is disconnected at once.").Produces(204);
    }

    /// <summary>What <paramref name="list"/> gives, once the caller may do <paramref name="action"/> with the VM.</summary>
    private static Task<IResult> ListAsync<T>(Guid id, HttpContext http, IDocumentStore store, VmAction action, Func<Task<IEnumerable<T>>> list) =>
        VmEndpoints.AnswerAsync(async () =>
        {
            await using (var session = store.QuerySession())
            {
                await VmRights.LoadAsync(session, http.User, id, action, http.RequestAborted);
            }

            return Results.Ok(await list());
        });
}
