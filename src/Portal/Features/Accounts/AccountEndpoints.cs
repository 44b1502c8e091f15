using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;

namespace Paddock.Portal.Features.Accounts;

public static class AccountEndpoints
{
    public const string Scheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string LoginPath = "/account/login";

    public static void MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapSignIn();
        app.MapPasswordChange();
        app.MapSignOut();
    }

    private static void MapSignIn(this IEndpointRouteBuilder app)
    {
        // A plain form post: the cookie can only be set on a real HTTP response, not inside a circuit.
        app.MapPost(LoginPath, async (HttpContext http, Accounts accounts, SignInThrottle throttle, Audit audit, [FromForm] string? userName, [FromForm] string? password, [FromForm] string? returnUrl) =>
        {
            var name = userName?.Trim() ?? "";
            var back = Uri.EscapeDataString(SafeReturnUrl(returnUrl));
            string[] keys = [SignInThrottle.AccountKey(name), SignInThrottle.AddressKey(http.Connection.RemoteIpAddress?.ToString())];
            var from = http.Connection.RemoteIpAddress?.ToString() ?? "an unknown address";
            // Counted before the hash is computed, so parallel guesses cannot outrun the count.
            if (await throttle.ReserveAsync(keys, http.RequestAborted) is { } refusal)
            {
                await audit.RecordAsync(Tried(name, AuditKind.SignInRefused, $"refused from {from}: {(refusal.Locked ? "locked" : "too many failures, slowed down")}"), http.RequestAborted);
                // Not even tried: a locked account says so whether the password would have been right or not.
                return Results.Redirect($"{LoginPath}?{(refusal.Locked ? "locked" : "wait")}={Math.Ceiling(refusal.Wait.TotalSeconds)}&returnUrl={back}");
            }

            var user = await accounts.VerifyAsync(name, password ?? "", http.RequestAborted);
            if (user is null)
            {
                // Already counted as a failure by the reservation.
                await audit.RecordAsync(Tried(name, AuditKind.SignInFailed, $"wrong user name or password from {from}"), http.RequestAborted);
                // One message for an unknown name and a wrong password alike.
                return Results.Redirect($"{LoginPath}?failed=1&returnUrl={back}");
            }

            await throttle.SucceededAsync(keys, http.RequestAborted);
            if (user.Disabled)
            {
                await audit.RecordAsync(Tried(name, AuditKind.SignInRefused, $"refused from {from}: the account is disabled"), http.RequestAborted);
                return Results.Redirect($"{LoginPath}?disabled=1&returnUrl={back}");
            }

            await http.SignInAsync(Scheme, Accounts.ToPrincipal(user));
            await audit.RecordAsync(Accounts.ToPrincipal(user), AuditKind.SignIn, $"signed in from {from}", http.RequestAborted);
            return Results.LocalRedirect(SafeReturnUrl(returnUrl));
        }).RequireRateLimiting(SignInRateLimit.Policy);
    }

    private static void MapPasswordChange(this IEndpointRouteBuilder app)
    {
        app.MapPost("/account/password", async (HttpContext http, Accounts accounts, [FromForm] string? current, [FromForm] string? replacement) =>
        {
            try
            {
                var user = await accounts.ChangeOwnPasswordAsync(http.User, current ?? "", replacement ?? "", http.RequestAborted);
                // This session goes on with the new stamp; every other one has ended.
                await http.SignInAsync(Scheme, Accounts.ToPrincipal(user));
                return Results.LocalRedirect("/account/password?changed=1");
            }
            catch (AccountException e)
            {
                return Results.LocalRedirect($"/account/password?error={Uri.EscapeDataString(e.Message)}");
            }
        }).RequireAuthorization();
    }

    private static void MapSignOut(this IEndpointRouteBuilder app)
    {
        app.MapPost("/account/logout", async (HttpContext http, IAntiforgery antiforgery) =>
        {
            // It binds no form field, so the framework would not check the token: a foreign page must not sign people out.
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The sign-out form is stale or came from another site; sign out from the portal's menu.");
            }

            await http.SignOutAsync(Scheme);
            return Results.LocalRedirect(LoginPath);
        }).RequireAuthorization();
    }

    private static AuditEntry Tried(string name, AuditKind kind, string what) => new() { Id = Guid.NewGuid(), Kind = kind, Actor = name, What = what };

    /// <summary>
    /// Only a path on this site: an open redirect after sign-in is how phishing starts (CVE-2021-3654's class).
    /// No control characters either: browsers drop tabs and newlines, so "/\t/evil" is "//evil" to them
    /// (LocalRedirect refuses it too, and threw: a 500 after a good password).
    /// </summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        !string.IsNullOrEmpty(returnUrl) && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//") && !returnUrl.StartsWith("/\\") && !returnUrl.Any(char.IsControl)
            ? returnUrl
            : "/";
}
