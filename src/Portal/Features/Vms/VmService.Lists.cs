using System.Security.Claims;
using Marten;
using Marten.Linq;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Vms;

/// <summary>One page of a person's VMs, how many the filter let through in all, and whether the person is in a group (whose shared VMs the list holds too).</summary>
public sealed record VmListPage(IReadOnlyList<Vm> Vms, int Total, bool InGroups);

public sealed partial class VmService
{
    /// <summary>The VMs a person sees: their own, then those shared with a group of theirs, by name.</summary>
    public static async Task<IReadOnlyList<Vm>> ListAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var owner = user.UserId();
        var vms = await (await VisibleAsync(session, user, ct)).ToListAsync(ct);
        return [.. vms.OrderBy(v => v.OwnerId != owner).ThenBy(v => v.Name)];
    }

    /// <summary>The VMs a person sees, as a query (their own, and those shared with a group of theirs).</summary>
    public static async Task<IQueryable<Vm>> VisibleAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default) =>
        VisibleTo(session, user.UserId(), await GroupService.GroupsOfAsync(session, user.UserId(), ct));

    /// <summary>
    /// A page of the VMs a person sees, by name, each page read from the store alone (the owner
    /// and group columns are indexed); <paramref name="find"/> keeps those whose name holds it.
    /// </summary>
    public static async Task<VmListPage> PageAsync(IQuerySession session, ClaimsPrincipal user, string? find, int page, int size, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, user.UserId(), ct);
        var visible = VisibleTo(session, user.UserId(), groups).Stats(out var stats);
        var found = string.IsNullOrWhiteSpace(find) ? visible : visible.Where(v => v.Name.Contains(find.Trim(), StringComparison.OrdinalIgnoreCase));
        var vms = await found.OrderBy(v => v.Name).Skip(page * size).Take(size).ToListAsync(ct);
        return new VmListPage(vms, (int)stats.TotalResults, groups.Count > 0);
    }

    private static IMartenQueryable<Vm> VisibleTo(IQuerySession session, Guid owner, IReadOnlyList<Guid> groups)
    {
        var ids = groups.Select(g => (Guid?)g).ToArray();
        var query = session.Query<Vm>();
        return (IMartenQueryable<Vm>)(ids.Length == 0 ? query.Where(v => v.OwnerId == owner) : query.Where(v => v.OwnerId == owner || ids.Contains(v.GroupId)));
    }
}
