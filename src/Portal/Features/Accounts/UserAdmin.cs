using System.Security.Claims;
using Marten;
using Microsoft.AspNetCore.Identity;
using Paddock.Portal.Features.Admin;
using Paddock.Portal.Features.Console;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Accounts;

/// <summary>An account as the users page shows it.</summary>
public sealed record UserSummary(PortalUser User, IReadOnlyList<string> Groups, int Vms);

/// <summary>Published to live pages when an account changed.</summary>
public sealed record UsersChanged;

/// <summary>
/// What admins do with accounts, and what people do with their own password. Every change that
/// makes earlier sessions wrong gives the account a new security stamp: its cookies and circuits
/// stop being accepted within seconds, and its consoles end.
/// </summary>
public sealed class UserAdmin(
    IDocumentStore store,
    Accounts accounts,
    IPasswordHasher<PortalUser> hasher,
    UserSessions sessions,
    ConsoleSessions consoles,
    Audit audit,
    ChangeNotifier<UsersChanged> changes)
{
    public static async Task<IReadOnlyList<UserSummary>> ListAsync(IQuerySession session, CancellationToken ct = default)
    {
        var users = await session.Query<PortalUser>().OrderBy(u => u.UserName).ToListAsync(ct);
        var groups = await session.Query<Group>().ToListAsync(ct);
        var vms = (await session.Query<Vm>().ToListAsync(ct)).GroupBy(v => v.OwnerId).ToDictionary(g => g.Key, g => g.Count());
        return [.. users.Select(u => new UserSummary(u, [.. groups.Where(g => g.MemberIds.Contains(u.Id)).Select(g => g.Name).Order()], vms.GetValueOrDefault(u.Id)))];
    }

    /// <summary>Creates an account; without a password one is generated and returned, to be shown once.</summary>
    public async Task<string?> CreateAsync(ClaimsPrincipal admin, string userName, string role, string? password, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        var generated = string.IsNullOrEmpty(password) ? Accounts.GeneratePassword() : null;
        await accounts.CreateAsync(userName.Trim(), generated ?? password!, role, ct);
        await audit.RecordAsync(admin, AuditKind.AccountChanged, $"Create account {userName.Trim()} ({role})", ct);
        changes.Publish(new UsersChanged());
        return generated;
    }

    public Task SetRoleAsync(ClaimsPrincipal admin, Guid id, string role, CancellationToken ct = default) =>
        ChangeAsync(admin, id, $"Make {{0}} {role}", user =>
        {
            if (!Roles.IsKnown(role))
            {
                throw new AccountException($"Role: '{role}' is not one of {Roles.Admin}, {Roles.Member}.");
            }

            if (user.Id == admin.UserId() && role != Roles.Admin)
            {
                throw new AccountException("You cannot take away your own admin role; ask another admin.");
            }

            user.Role = role;
        }, ct);

    public Task SetDisabledAsync(ClaimsPrincipal admin, Guid id, bool disabled, CancellationToken ct = default) =>
        ChangeAsync(admin, id, disabled ? "Disable {0}" : "Enable {0}", user =>
        {
            if (user.Id == admin.UserId() && disabled)
            {
                throw new AccountException("You cannot disable your own account.");
            }

            user.Disabled = disabled;
        }, ct);

    /// <summary>A new generated password, returned to be shown once; the account's sessions end.</summary>
    public async Task<string> ResetPasswordAsync(ClaimsPrincipal admin, Guid id, CancellationToken ct = default)
    {
        var password = Accounts.GeneratePassword();
        await ChangeAsync(admin, id, "Reset the password of {0}", user => user.PasswordHash = hasher.HashPassword(user, password), ct);
        return password;
    }

    /// <summary>Deletes an account that owns nothing any more; the refusal says what it still owns.</summary>
    public async Task DeleteAsync(ClaimsPrincipal admin, Guid id, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        if (id == admin.UserId())
        {
            throw new AccountException("You cannot delete your own account.");
        }

        await using var session = store.LightweightSession();
        var user = await session.LoadAsync<PortalUser>(id, ct) ?? throw new AccountException("No such user.");
        var vms = await session.Query<Vm>().CountAsync(v => v.OwnerId == id, ct);
        var templates = await session.Query<VmTemplate>().CountAsync(t => t.OwnerId == id, ct);
        var images = await session.Query<LibraryImage>().CountAsync(i => i.OwnerId == id, ct);
        if (vms + templates + images > 0)
        {
            throw new AccountException($"{user.UserName} still owns {vms} VM(s), {templates} template(s) and {images} image(s); delete them first, or disable the account instead.");
        }

        foreach (var group in await session.Query<Group>().Where(g => g.MemberIds.Contains(id)).ToListAsync(ct))
        {
            group.MemberIds.Remove(id);
            session.Store(group);
        }

        session.Delete(user);
        audit.Add(session, admin, AuditKind.AccountChanged, $"Delete account {user.UserName}");
        await session.SaveChangesAsync(ct);
        Ended(id);
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
        Ended(user.Id);
        return user;
    }

    private async Task ChangeAsync(ClaimsPrincipal admin, Guid id, string what, Action<PortalUser> change, CancellationToken ct)
    {
        RequireAdmin(admin);
        await using var session = store.LightweightSession();
        var user = await session.LoadAsync<PortalUser>(id, ct) ?? throw new AccountException("No such user.");
        change(user);
        user.SecurityStamp = PortalUser.NewStamp();
        session.Store(user);
        audit.Add(session, admin, AuditKind.AccountChanged, string.Format(System.Globalization.CultureInfo.InvariantCulture, what, user.UserName));
        await session.SaveChangesAsync(ct);
        Ended(id);
    }

    /// <summary>The account's earlier sessions are over: here at once, in other processes within <see cref="UserSessions.CacheFor"/>.</summary>
    private void Ended(Guid id)
    {
        sessions.Forget(id);
        consoles.EndFor(id);
        changes.Publish(new UsersChanged());
    }

    private static void RequireAdmin(ClaimsPrincipal user)
    {
        if (!user.IsAdmin())
        {
            throw new AccountException("Only admins manage accounts.");
        }
    }
}
