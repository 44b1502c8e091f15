using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;

namespace Paddock.Portal.Features.Accounts;

/// <summary>
/// What the sign-in cookie does besides carrying the session: programs get status codes instead of
/// the sign-in page, and a session whose account changed is signed out on its next request.
/// </summary>
public sealed class CookieEvents(UserSessions sessions) : CookieAuthenticationEvents
{
    public override Task RedirectToLogin(RedirectContext<CookieAuthenticationOptions> context) =>
        ApiOrRedirect(context, StatusCodes.Status401Unauthorized);

    public override Task RedirectToAccessDenied(RedirectContext<CookieAuthenticationOptions> context) =>
        ApiOrRedirect(context, StatusCodes.Status403Forbidden);

    /// <summary>Checked on every request: a disabled account or a changed password ends the sessions signed in before.</summary>
    public override async Task ValidatePrincipal(CookieValidatePrincipalContext context)
    {
        if (context.Principal is null || !await sessions.IsCurrentAsync(context.Principal, context.HttpContext.RequestAborted))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(AccountEndpoints.Scheme);
        }
    }

    /// <summary>The API answers with status codes, not with the sign-in page.</summary>
    private static Task ApiOrRedirect(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (Extensions.IsForPrograms(context.Request.Path))
        {
            context.Response.StatusCode = status;
        }
        else
        {
            context.Response.Redirect(context.RedirectUri);
        }

        return Task.CompletedTask;
    }
}
