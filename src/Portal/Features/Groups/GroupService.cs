using Marten;
using Paddock.Portal.Features.Accounts;

namespace Paddock.Portal.Features.Groups;

/// <summary>A group with its members' names, for the admin page.</summary>
public sealed record GroupSummary(Group Group, IReadOnlyList<string> Members);

/// <summary>Who is in which group, and the rule for a group's name; admins change groups through <c>GroupAdmin</c>.</summary>
public static class GroupService
{
    public const int MaxNameLength = 64;

    public static string? ValidateName(string? name) => DisplayNames.Problem(name, MaxNameLength);

    /// <summary>The ids of the groups <paramref name="userId"/> is in.</summary>
    public static async Task<IReadOnlyList<Guid>> GroupsOfAsync(IQuerySession session, Guid userId, CancellationToken ct = default) =>
        await session.Query<Group>().Where(g => g.MemberIds.Contains(userId)).Select(g => g.Id).ToListAsync(ct);

    public static async Task<IReadOnlyList<GroupSummary>> ListAsync(IQuerySession session, CancellationToken ct = default)
    {
        var groups = await session.Query<Group>().OrderBy(g => g.Name).ToListAsync(ct);
        var names = (await session.LoadManyAsync<PortalUser>(ct, groups.SelectMany(g => g.MemberIds).Distinct())).ToDictionary(u => u.Id, u => u.UserName);
        return [.. groups.Select(g => new GroupSummary(g, [.. g.MemberIds.Select(id => names.GetValueOrDefault(id, "(removed user)")).Order()]))];
    }
}
