using System.Security.Claims;

namespace Paddock.Portal.Shared;

/// <summary>The roles an account has: every feature asks whether the caller is an admin.</summary>
public static class Roles
{
    public const string Admin = "admin";
    public const string Member = "member";

    public static bool IsKnown(string role) => role is Admin or Member;
}

/// <summary>Who the caller is, as every feature asks it.</summary>
public static class ClaimsPrincipalExtensions
{
    /// <summary>The signed-in user's id; <see cref="Guid.Empty"/> for anyone else, who then owns nothing.</summary>
    public static Guid UserId(this ClaimsPrincipal principal) =>
        Guid.TryParse(principal.FindFirstValue(ClaimTypes.NameIdentifier), out var id) ? id : Guid.Empty;

    public static bool IsAdmin(this ClaimsPrincipal principal) => principal.IsInRole(Roles.Admin);

    /// <summary>The name of the personal API token the call came with; null for a signed-in session.</summary>
    public static string? TokenName(this ClaimsPrincipal principal) => principal.FindFirstValue(TokenClaims.Name);
}

/// <summary>What a principal made from a personal API token carries besides the account's own claims.</summary>
public static class TokenClaims
{
    public const string Id = "paddock:token";
    public const string Name = "paddock:token-name";

    /// <summary><see cref="ReadOnly"/> or <see cref="Everything"/>.</summary>
    public const string Scope = "paddock:token-scope";

    public const string ReadOnly = "read";
    public const string Everything = "all";
}

/// <summary>
/// Endpoint metadata: a signed-in browser session only, never a personal API token (console tickets,
/// making tokens: a leaked token must not open a screen or outlive its own expiry).
/// </summary>
public sealed class NotForApiTokens;
