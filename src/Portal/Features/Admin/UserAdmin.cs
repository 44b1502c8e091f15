using System.Security.Claims;
using Marten;
using Microsoft.AspNetCore.Identity;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Admin;

/// <summary>An account as the users page shows it.</summary>
public sealed record UserSummary(PortalUser User, IReadOnlyList<string> Groups, int Vms);

/// <summary>
/// What admins do with accounts. Every change that makes earlier sessions wrong gives the account a
/// new security stamp: its cookies and circuits stop being accepted within seconds, and its consoles
/// end. Here, above every feature, because an account is deleted only when it owns nothing in any.
/// </summary>
public sealed class UserAdmin(
    IDocumentStore store,
    Accounts.Accounts accounts,
    IPasswordHasher<PortalUser> hasher,
    SessionEnds ends,
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
        var generated = string.IsNullOrEmpty(password) ? Accounts.Accounts.GeneratePassword() : null;
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
        var password = Accounts.Accounts.GeneratePassword();
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
        ends.EndFor(id);
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
        ends.EndFor(id);
    }

    private static void RequireAdmin(ClaimsPrincipal user)
    {
        if (!user.IsAdmin())
        {
            throw new AccountException("Only admins manage accounts.");
        }
    }
}
