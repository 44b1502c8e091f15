using System.Security.Claims;
using JasperFx;
using Marten;
using Npgsql;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Admin;

public sealed class GroupRequestException(string message, string? field = null) : Exception(message)
{
    public string? Field { get; } = field;
}

/// <summary>
/// Admins create groups and say who is in them; templates, images and VMs are shared with groups.
/// Here, above every feature, because a group is deleted only when nothing in any is shared with it.
/// </summary>
public sealed class GroupAdmin(IDocumentStore store, ChangeNotifier<GroupsChanged> changes, Audit audit, TimeProvider clock)
{
    public async Task<Guid> CreateAsync(ClaimsPrincipal admin, string name, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        if (GroupService.ValidateName(name) is { } problem)
        {
            throw new GroupRequestException(problem, "name");
        }

        await using var session = store.LightweightSession();
        var group = new Group { Id = Guid.NewGuid(), Name = name.Trim(), CreatedAt = clock.GetUtcNow() };
        session.Insert(group);
        audit.Add(session, admin, AuditKind.GroupChanged, $"Create group {group.Name}");
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e) when (e is DocumentAlreadyExistsException || e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            throw new GroupRequestException($"Name: a group called '{group.Name}' exists already.", "name");
        }

        changes.Publish(new GroupsChanged());
        return group.Id;
    }

    /// <summary>Adds the account called <paramref name="userName"/> to the group, or takes it out.</summary>
    public async Task SetMemberAsync(ClaimsPrincipal admin, Guid groupId, string userName, bool member, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        await using var session = store.LightweightSession();
        var group = await session.LoadAsync<Group>(groupId, ct) ?? throw new GroupRequestException("No such group.");
        var user = await session.Query<PortalUser>().FirstOrDefaultAsync(u => u.UserName == userName.Trim(), ct)
            ?? throw new GroupRequestException($"User: there is no account called '{userName.Trim()}'.", "user");
        if (member && !group.MemberIds.Contains(user.Id))
        {
            group.MemberIds.Add(user.Id);
        }
        else if (!member)
        {
            group.MemberIds.Remove(user.Id);
        }

        session.Store(group);
        audit.Add(session, admin, AuditKind.GroupChanged, member ? $"Add {user.UserName} to group {group.Name}" : $"Take {user.UserName} out of group {group.Name}");
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (ConcurrencyException)
        {
            throw new GroupRequestException("The group changed meanwhile; look again and retry.");
        }

        changes.Publish(new GroupsChanged());
    }

    public async Task RenameAsync(ClaimsPrincipal admin, Guid groupId, string name, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        if (GroupService.ValidateName(name) is { } problem)
        {
            throw new GroupRequestException(problem, "name");
        }

        await using var session = store.LightweightSession();
        var group = await session.LoadAsync<Group>(groupId, ct) ?? throw new GroupRequestException("No such group.");
        var old = group.Name;
        group.Name = name.Trim();
        session.Store(group);
        audit.Add(session, admin, AuditKind.GroupChanged, $"Rename group {old} to {group.Name}");
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e) when (e is ConcurrencyException || e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            throw new GroupRequestException($"Name: a group called '{group.Name}' exists already, or the group changed meanwhile.", "name");
        }

        changes.Publish(new GroupsChanged());
    }

    /// <summary>Deletes a group nothing is shared with any more; the refusal says what still is.</summary>
    public async Task DeleteAsync(ClaimsPrincipal admin, Guid groupId, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        await using var session = store.LightweightSession();
        var group = await session.LoadAsync<Group>(groupId, ct) ?? throw new GroupRequestException("No such group.");
        var vms = await session.Query<Vm>().CountAsync(v => v.GroupId == groupId, ct);
        var templates = await session.Query<VmTemplate>().CountAsync(t => t.GroupId == groupId, ct);
        var images = await session.Query<LibraryImage>().CountAsync(i => i.GroupId == groupId, ct);
        if (vms + templates + images > 0)
        {
            throw new GroupRequestException($"'{group.Name}' is still shared with by {vms} VM(s), {templates} template(s) and {images} image(s); share them otherwise first.");
        }

        session.Delete(group);
        audit.Add(session, admin, AuditKind.GroupChanged, $"Delete group {group.Name}");
        await session.SaveChangesAsync(ct);
        changes.Publish(new GroupsChanged());
    }

    private static void RequireAdmin(ClaimsPrincipal user)
    {
        if (!user.IsAdmin())
        {
            throw new GroupRequestException("Only admins manage groups.");
        }
    }
}
