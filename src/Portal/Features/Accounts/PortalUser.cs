namespace Paddock.Portal.Features.Accounts;

public static class Roles
{
    public const string Admin = "admin";
    public const string Member = "member";

    public static bool IsKnown(string role) => role is Admin or Member;
}

/// <summary>An account. The password is stored only as ASP.NET Core Identity's hash.</summary>
public sealed class PortalUser
{
    public Guid Id { get; set; }

    public string UserName { get; set; } = "";

    public string PasswordHash { get; set; } = "";

    public string Role { get; set; } = Roles.Member;

    public DateTimeOffset CreatedAt { get; set; }
}
