using System.Security.Claims;
using JasperFx;
using Marten;
using Marten.Exceptions;
using Npgsql;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Flavors;

/// <summary>Published to live pages when a flavor changed.</summary>
public sealed record FlavorsChanged;

/// <summary>Admins define flavors and say who may use them.</summary>
public sealed class FlavorService(IDocumentStore store, Audit audit, ChangeNotifier<FlavorsChanged> changes, TimeProvider clock)
{
    public const int MaxNameLength = 32;

    public static async Task<IReadOnlyList<Flavor>> ListAsync(IQuerySession session, CancellationToken ct = default) =>
        [.. (await session.Query<Flavor>().ToListAsync(ct)).OrderBy(f => f.MemoryMiB).ThenBy(f => f.VCpus).ThenBy(f => f.Name)];

    /// <summary>The flavors <paramref name="user"/> may use: everyone's, and their groups'. Admins may use all.</summary>
    public static async Task<IReadOnlyList<Flavor>> AvailableAsync(IQuerySession session, ClaimsPrincipal user, CancellationToken ct = default)
    {
        var groups = await GroupService.GroupsOfAsync(session, user.UserId(), ct);
        return [.. (await ListAsync(session, ct)).Where(f => MayUse(f, user, groups))];
    }

    public static bool MayUse(Flavor flavor, ClaimsPrincipal user, IReadOnlyCollection<Guid> groups) =>
        user.IsAdmin() || flavor.GroupIds.Count == 0 || flavor.GroupIds.Any(groups.Contains);

    /// <summary>What is wrong with <paramref name="flavor"/>, by field; empty when nothing is.</summary>
    public static Dictionary<string, string> Problems(Flavor flavor)
    {
        var problems = new Dictionary<string, string>();
        void Add(string field, string? problem)
        {
            if (problem is not null)
            {
                problems[field] = problem;
            }
        }

        Add("name", DisplayNames.Problem(flavor.Name, MaxNameLength));
        Add("vcpus", VmSizes.ValidateVCpus(flavor.VCpus));
        Add("memory", VmSizes.ValidateMemory(flavor.MemoryMiB));
        Add("disk", flavor.DiskMiB is < 1 or > VmSizes.MaxDiskMiB ? $"Disk: between 1 and {VmSizes.MaxDiskMiB} MiB." : null);
        Add("limits", flavor.Limits.Problem());
        Add("accelerator", flavor.RequiredAccelerator is null or "kvm" or "whpx" or "tcg" ? null : "Accelerator: kvm, whpx, tcg or none.");
        Add("lease", flavor.MaxLease is { } lease && (lease < TimeSpan.FromMinutes(1) || lease > TimeSpan.FromDays(3650)) ? "Longest lease: between 1 minute and 10 years, or empty for no maximum." : null);
        return problems;
    }

    /// <summary>Creates the flavor, or replaces the one with its id. Admins only.</summary>
    public async Task<Guid> SaveAsync(ClaimsPrincipal admin, Flavor flavor, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        flavor.Name = flavor.Name.Trim();
        if (Problems(flavor).FirstOrDefault() is { Key: { } field, Value: { } problem })
        {
            throw new RefusedException(problem, field);
        }

        await using var session = store.LightweightSession();
        var existing = flavor.Id == Guid.Empty ? null : await session.LoadAsync<Flavor>(flavor.Id, ct);
        if (flavor.Id != Guid.Empty && existing is null)
        {
            throw new RefusedException("No such flavor.");
        }

        var known = (await session.Query<Group>().ToListAsync(ct)).Select(g => g.Id).ToHashSet();
        if (flavor.GroupIds.FirstOrDefault(g => !known.Contains(g)) is var unknown && unknown != Guid.Empty)
        {
            throw new RefusedException("Groups: one of them does not exist.", "groups");
        }

        flavor.Id = existing?.Id ?? Guid.NewGuid();
        flavor.CreatedAt = existing?.CreatedAt ?? clock.GetUtcNow();
        session.Store(flavor);
        audit.Add(session, admin, AuditKind.PolicyChanged,
            $"{(existing is null ? "Create" : "Change")} flavor {flavor.Name}: {flavor.Sizes}{(flavor.NeedsApproval ? ", needs approval" : "")}{(flavor.MaxLease is { } l ? $", longest lease {l}" : "")}");
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            throw new RefusedException($"Name: a flavor called '{flavor.Name}' exists already.", "name");
        }
        catch (ConcurrencyException)
        {
            throw new RefusedException("The flavor changed meanwhile; look at it and try again.");
        }

        changes.Publish(new FlavorsChanged());
        return flavor.Id;
    }

    /// <summary>Removes the flavor; VMs created with it keep their sizes.</summary>
    public async Task DeleteAsync(ClaimsPrincipal admin, Guid id, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        await using var session = store.LightweightSession();
        var flavor = await session.LoadAsync<Flavor>(id, ct) ?? throw new RefusedException("No such flavor.");
        session.Delete(flavor);
        audit.Add(session, admin, AuditKind.PolicyChanged, $"Delete flavor {flavor.Name}");
        await session.SaveChangesAsync(ct);
        changes.Publish(new FlavorsChanged());
    }

    private static void RequireAdmin(ClaimsPrincipal user)
    {
        if (!user.IsAdmin())
        {
            throw new RefusedException("Only admins may change flavors.");
        }
    }
}
