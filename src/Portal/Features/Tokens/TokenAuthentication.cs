using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Paddock.Portal.Features.Tokens;

/// <summary>
/// <c>Authorization: Bearer pdk_…</c> on <c>/api</c>: the sign-in cookie's scheme forwards such a
/// call here (<see cref="IsTokenCall"/>), so every endpoint's <c>RequireAuthorization()</c> takes a
/// token without knowing of tokens. Pages, hubs and console sockets never forward: there a token
/// is no sign-in.
/// </summary>
public sealed class TokenAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logs, UrlEncoder encoder, ApiTokens tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logs, encoder)
{
    public const string Name = "ApiToken";
    private const string Bearer = "Bearer ";

    public static bool IsTokenCall(HttpContext http) =>
        http.Request.Path.StartsWithSegments("/api") && http.Request.Headers.Authorization.ToString().StartsWith(Bearer, StringComparison.OrdinalIgnoreCase);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }

        var principal = await tokens.AuthenticateAsync(header[Bearer.Length..].Trim(), Context.Connection.RemoteIpAddress?.ToString(), Context.RequestAborted);
        return principal is null
            ? AuthenticateResult.Fail("The API token is not known, has expired or was revoked, or its account is disabled.")
            : AuthenticateResult.Success(new AuthenticationTicket(principal, Name));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer realm=\"paddock\"";
        return Task.CompletedTask;
    }

    /// <summary>
    /// What a token may not do although its owner may: a read-only token changes nothing, and no
    /// token reaches an endpoint marked <see cref="NotForApiTokens"/>. Runs after authorization.
    /// </summary>
    public static Task Limit(HttpContext http, RequestDelegate next)
    {
        var scope = http.User.FindFirstValue(TokenClaims.Scope);
        var refusal = scope is null ? null
            : http.GetEndpoint()?.Metadata.GetMetadata<NotForApiTokens>() is not null ? "This needs a signed-in session: an API token cannot open consoles or make tokens."
            : scope == TokenClaims.ReadOnly && !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method) ? "This API token is read-only."
            : null;
        return refusal is null ? next(http) : Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: refusal).ExecuteAsync(http);
    }
}
