using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// Host agents present their own credential (traded for a one-time join token) as a bearer token.
/// A person's cookie never satisfies this scheme, so a member cannot reach the agents' hub, the
/// agents' console endpoint or the agents' image routes.
/// </summary>
public sealed class AgentAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    HostEnrollment enrollment) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "HostAgent";
    public const string Policy = "HostAgent";
    private const string HostClaim = "paddock-host";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // The .NET SignalR client sends it as a header on WebSockets too: never accepted from a URL.
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return AuthenticateResult.NoResult();
        }

        if (await enrollment.AuthenticateAsync(header["Bearer ".Length..], Context.RequestAborted) is not { } hostId)
        {
            return AuthenticateResult.Fail("Unknown or revoked host credential.");
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Role, "host-agent"), new Claim(HostClaim, hostId.ToString())], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    /// <summary>The host an authenticated agent is.</summary>
    public static Guid? HostOf(ClaimsPrincipal? agent) =>
        Guid.TryParse(agent?.FindFirst(HostClaim)?.Value, out var id) ? id : null;
}
