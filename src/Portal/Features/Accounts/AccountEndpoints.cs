using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;

namespace Paddock.Portal.Features.Accounts;

public static class AccountEndpoints
{
    public const string Scheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string LoginPath = "/account/login";

    public static void MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        // A plain form post: the cookie can only be set on a real HTTP response, not inside a circuit.
        app.MapPost(LoginPath, async (HttpContext http, Accounts accounts, [FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl) =>
        {
            var user = await accounts.VerifyAsync(userName?.Trim() ?? "", password ?? "", http.RequestAborted);
            if (user is null)
            {
                // One message for an unknown name and a wrong password alike.
                return Results.Redirect($"{LoginPath}?failed=1&returnUrl={Uri.EscapeDataString(SafeReturnUrl(returnUrl))}");
            }

            await http.SignInAsync(Scheme, Accounts.ToPrincipal(user));
            return Results.LocalRedirect(SafeReturnUrl(returnUrl));
        });

        app.MapPost("/account/logout", async (HttpContext http) =>
        {
            await http.SignOutAsync(Scheme);
            return Results.LocalRedirect(LoginPath);
        }).RequireAuthorization();
    }

    /// <summary>Only a path on this site: an open redirect after sign-in is how phishing starts (CVE-2021-3654's class).</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//") && !returnUrl.StartsWith("/\\")
            ? returnUrl
            : "/";
}
