namespace Paddock.Portal.Features.Accounts;

/// <summary>An account. The password is stored only as ASP.NET Core Identity's hash.</summary>
public sealed class PortalUser
{
    public Guid Id { get; set; }

    public string UserName { get; set; } = "";

    public string PasswordHash { get; set; } = "";

    public string Role { get; set; } = Roles.Member;

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>A disabled account cannot sign in, and its open sessions end within seconds.</summary>
    public bool Disabled { get; set; }

    /// <summary>
    /// Changes whenever what a session was signed in with stops being true (password, role,
    /// disabling): a cookie or circuit carrying an older stamp is no longer accepted.
    /// </summary>
    public string SecurityStamp { get; set; } = "";

    public static string NewStamp() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
}
