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
}
