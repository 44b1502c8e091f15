using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Marten;
using Microsoft.AspNetCore.Identity;

namespace Paddock.Portal.Features.Accounts;

public sealed class AccountException(string message) : Exception(message);

/// <summary>Creates accounts, checks passwords, and lets people change their own.</summary>
public sealed partial class Accounts(IDocumentStore store, IPasswordHasher<PortalUser> hasher, SessionEnds ends, Audit audit, TimeProvider clock)
{
    public const int MinPasswordLength = 12;

    [GeneratedRegex("^[a-z][a-z0-9._-]{1,31}$")]
    private static partial Regex UserNamePattern();

    public static string GeneratePassword() =>
        // 18 random bytes -> 24 URL-safe characters: easy to paste, never ambiguous in a terminal.
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', 'x').Replace('/', 'y');

    public async Task<PortalUser> CreateAsync(string userName, string password, string role, CancellationToken ct = default)
    {
        if (!UserNamePattern().IsMatch(userName))
        {
            throw new AccountException("User name: 2-32 characters, lower-case letters, digits, '.', '_' or '-', starting with a letter.");
        }

        if (!Roles.IsKnown(role))
        {
            throw new AccountException($"Role: '{role}' is not one of {Roles.Admin}, {Roles.Member}.");
        }

        CheckPassword(password);
        await using var session = store.LightweightSession();
        if (await session.Query<PortalUser>().AnyAsync(u => u.UserName == userName, ct))
        {
            throw new AccountException($"User name: '{userName}' is taken.");
        }

        var user = new PortalUser { Id = Guid.NewGuid(), UserName = userName, Role = role, CreatedAt = clock.GetUtcNow(), SecurityStamp = PortalUser.NewStamp() };
        user.PasswordHash = hasher.HashPassword(user, password);
        session.Insert(user);
        await session.SaveChangesAsync(ct);
        return user;
    }

    public async Task SetPasswordAsync(string userName, string password, CancellationToken ct = default)
    {
        CheckPassword(password);
        await using var session = store.LightweightSession();
        var user = await session.Query<PortalUser>().SingleOrDefaultAsync(u => u.UserName == userName, ct)
            ?? throw new AccountException($"No user '{userName}'.");
        user.PasswordHash = hasher.HashPassword(user, password);
        session.Update(user);
        await session.SaveChangesAsync(ct);
    }

    public async Task<bool> AnyAdminAsync(CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return await session.Query<PortalUser>().AnyAsync(u => u.Role == Roles.Admin, ct);
    }

    /// <summary>The user when the password matches; null for an unknown user or a wrong password alike.</summary>
    public async Task<PortalUser?> VerifyAsync(string userName, string password, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var user = await session.Query<PortalUser>().SingleOrDefaultAsync(u => u.UserName == userName, ct);
        if (user is null)
        {
            // Spend the same work as for a real account so timing does not tell which names exist.
            hasher.VerifyHashedPassword(new PortalUser(), DummyHash, password);
            return null;
        }

        return hasher.VerifyHashedPassword(user, user.PasswordHash, password) == PasswordVerificationResult.Failed ? null : user;
    }

    /// <summary>A person changes their own password; their other sessions end, this one is signed in again by the caller.</summary>
    public async Task<PortalUser> ChangeOwnPasswordAsync(ClaimsPrincipal self, string current, string replacement, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var user = await session.LoadAsync<PortalUser>(self.UserId(), ct) ?? throw new AccountException("No such user.");
        if (hasher.VerifyHashedPassword(user, user.PasswordHash, current) == PasswordVerificationResult.Failed)
        {
            throw new AccountException("Current password: wrong.");
        }

        Accounts.CheckPassword(replacement);
        user.PasswordHash = hasher.HashPassword(user, replacement);
        user.SecurityStamp = PortalUser.NewStamp();
        session.Store(user);
        audit.Add(session, self, AuditKind.AccountChanged, $"{user.UserName} changed their password");
        await session.SaveChangesAsync(ct);
        ends.EndFor(user.Id);
        return user;
    }

    public static ClaimsPrincipal ToPrincipal(PortalUser user) => new(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, user.Id.ToString()),
            new Claim(ClaimTypes.Name, user.UserName),
            new Claim(ClaimTypes.Role, user.Role),
            new Claim(UserSessions.StampClaim, user.SecurityStamp),
        ],
        AccountEndpoints.Scheme));

    public static void CheckPassword(string password)
    {
        if (password.Length < MinPasswordLength)
        {
            throw new AccountException($"Password: at least {MinPasswordLength} characters.");
        }
    }

    private static readonly string DummyHash = new PasswordHasher<PortalUser>().HashPassword(new PortalUser(), "paddock-timing-equaliser");
}
