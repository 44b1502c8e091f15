namespace Paddock.Portal.Features.Tokens;

public sealed record MakeTokenBody(string? Name, int? Days, TokenScope Scope = TokenScope.Everything);

public sealed record MadeTokenResponse(Guid Id, string Name, TokenScope Scope, DateTimeOffset ExpiresAt, string Token);

/// <summary>
/// <c>GET /api/tokens</c> (yours; <c>?all=true</c> everyone's, for admins), <c>POST /api/tokens</c>
/// (a signed-in session only: the answer holds the token, once), <c>DELETE /api/tokens/{id}</c>.
/// </summary>
public static class TokenEndpoints
{
    public static void MapTokenEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/tokens").RequireAuthorization().WithTags("API tokens");
        api.MapGet("/", async (bool? all, int? limit, Guid? after, HttpContext http, ApiTokens tokens) =>
            ListPages.Answer(http, await tokens.ListAsync(http.User, all == true, http.RequestAborted), t => t.Id, limit, after))
            .WithSummary("Your API tokens (never their secrets); for admins with all=true, everyone's (a page at a time with limit and after).").Produces<IEnumerable<TokenSummary>>();
        api.MapPost("/", (MakeTokenBody body, HttpContext http, ApiTokens tokens) => ApiAnswers.AnswerAsync<TokenNotFoundException>(async () =>
        {
            var made = await tokens.MakeAsync(http.User, body.Name, body.Days, body.Scope, http.RequestAborted);
            var token = made.Token;
            return Results.Created($"/api/tokens/{token.Id}", new MadeTokenResponse(token.Id, token.Name, token.Scope, token.ExpiresAt, made.Text));
        }, "No such token.")).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithMetadata(new NotForApiTokens())
            .WithSummary("Makes an API token: the answer holds it, the only time it is shown. Signed-in sessions only: a token cannot make tokens.")
            .Produces<MadeTokenResponse>(201);
        api.MapDelete("/{id:guid}", (Guid id, HttpContext http, ApiTokens tokens) => ApiAnswers.AnswerAsync<TokenNotFoundException>(async () =>
        {
            await tokens.RevokeAsync(http.User, id, http.RequestAborted);
            return Results.NoContent();
        }, "No such token.")).AddEndpointFilter(ApiAnswers.RequireApiHeader).WithSummary("Revokes your token (admins: anyone's).").Produces(204);
    }
}
