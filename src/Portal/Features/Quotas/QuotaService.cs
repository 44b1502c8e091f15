using System.Security.Claims;
using Marten;
using JasperFx;
using Marten.Exceptions;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Groups;

namespace Paddock.Portal.Features.Quotas;

/// <summary>A create (or a bigger VM) that does not fit: every resource short, with its numbers.</summary>
public sealed class QuotaExceededException(IReadOnlyList<QuotaShortfall> shortfalls)
    : RefusedException(string.Join("; ", shortfalls.Select(s => s.Message)) + ".", shortfalls[0].Field)
{
    public IReadOnlyList<QuotaShortfall> Shortfalls { get; } = shortfalls;

    /// <summary>A 409 with every shortfall by field, and the offer to send the same as a request.</summary>
    public override IResult ToProblem(Dictionary<string, object?>? offer) => Results.Problem(statusCode: 409, title: "Over quota: " + Message, extensions: new Dictionary<string, object?>
    {
        ["errors"] = Shortfalls.GroupBy(s => s.Field).ToDictionary(g => g.Key, g => g.Select(s => s.Message).ToArray()),
        ["shortfalls"] = Shortfalls.Select(s => new { resource = s.Resource.ToString(), s.Requested, s.InUse, s.Limit, s.Subject, s.Message }),
        ["submitAsRequest"] = offer,
    });
}

/// <summary>Where a user or group stands: the limits that apply, what their VMs take, and what of that runs now.</summary>
/// <param name="Networks">The user's networks the quota counts (their default one aside); 0 for a group.</param>
/// <param name="PortForwards">The port forwards of the user's VMs; 0 for a group.</param>
public sealed record QuotaStatus(Guid Id, QuotaSubject Subject, string Name, QuotaLimits Limits, TimeSpan? MaxLease, QuotaUsage InUse, QuotaUsage Running, bool Overridden, int Networks = 0, int PortForwards = 0);

/// <summary>Published to live pages when limits changed.</summary>
public sealed record QuotasChanged;

/// <summary>Quotas: the limits that apply to whom, what is in use, and the admission of new use inside the caller's transaction.</summary>
public sealed class QuotaService(IDocumentStore store, ICountedVms counted, ICountedNetworks networks, Audit audit, ChangeNotifier<QuotasChanged> changes, TimeProvider clock)
{
    /// <summary>The limits for <paramref name="id"/>: its override, else the default for its kind (an admin's, else the built-in one).</summary>
    public static async Task<Quota> EffectiveAsync(IQuerySession session, Guid id, bool group, CancellationToken ct = default) =>
        await session.LoadAsync<Quota>(id, ct)
        ?? await session.LoadAsync<Quota>(group ? Quota.GroupDefaultId : Quota.UserDefaultId, ct)
        ?? new Quota
        {
            Id = group ? Quota.GroupDefaultId : Quota.UserDefaultId,
            Subject = group ? QuotaSubject.GroupDefault : QuotaSubject.UserDefault,
            Limits = group ? QuotaLimits.None : QuotaLimits.UserDefault,
        };

    /// <summary>What one VM counts: a hardware change asked for and not yet done counts at its bigger size; its states count as disk.</summary>
    public static QuotaUsage UsageOf(IVmFootprint vm)
    {
        var vcpus = vm.VCpus;
        var disk = vm.AllDisksBytes;
        if (vm.Pending is { } pending)
        {
            vcpus = Math.Max(vcpus, pending.VCpus);
            disk = Math.Max(disk, pending.DiskBytes);
        }

        return QuotaUsage.OneVm(vcpus, vm.MemoryMiB, disk + vm.StateBytes);
    }

    /// <summary>What the VMs counted against a user or group take, summed by the database inside the admission's transaction.</summary>
    public static Task<QuotaUsage> InUseAsync(IQuerySession session, Guid id, bool group, CancellationToken ct = default) =>
        VmUsageTotals.OfAsync(session, id, group, ct);

    public async Task<QuotaStatus> StatusAsync(IQuerySession session, Guid id, bool group, CancellationToken ct = default)
    {
        var quota = await EffectiveAsync(session, id, group, ct);
        var (inUse, running) = await counted.TotalsAsync(session, id, group, ct);
        var name = group
            ? (await session.LoadAsync<Group>(id, ct))?.Name ?? "(removed group)"
            : (await session.LoadAsync<PortalUser>(id, ct))?.UserName ?? "(removed user)";
        return new QuotaStatus(
            id, group ? QuotaSubject.Group : QuotaSubject.User, name, quota.Limits, quota.MaxLease,
            inUse,
            running,
            quota.Id == id,
            group ? 0 : await networks.OfAsync(session, id, ct),
            group ? 0 : await networks.PortForwardsOfAsync(session, id, ct));
    }

    /// <summary>
    /// Admits <paramref name="requested"/> (a new VM, or what a VM grows by) against the owner's
    /// and the group's quota inside <paramref name="session"/>, which the caller then saves. Throws
    /// <see cref="QuotaExceededException"/> with every shortfall, unless <paramref name="raisedBy"/>
    /// (an admin approving a request) raises the limits just enough, as events in the same session.
    /// </summary>
    /// <remarks>
    /// The ledgers are read before the VMs are counted, and stored again version-checked: if another
    /// transaction admitted something after this one read a ledger, saving fails with a
    /// <see cref="ConcurrencyException"/> and the caller decides again.
    /// </remarks>
    public async Task AdmitAsync(IDocumentSession session, Guid? owner, Guid? group, QuotaUsage requested, CancellationToken ct, ClaimsPrincipal? raisedBy = null, string? reason = null)
    {
        var subjects = new List<(Guid Id, bool Group)>();
        if (owner is { } o)
        {
            subjects.Add((o, false));
        }

        if (group is { } g)
        {
            subjects.Add((g, true));
        }

        var ledgers = await LockLedgersAsync(session, subjects.Select(s => s.Id).ToList(), ct);
        var shortfalls = new List<QuotaShortfall>();
        var now = clock.GetUtcNow();
        foreach (var (id, isGroup) in subjects)
        {
            shortfalls.AddRange(await CheckOrRaiseAsync(session, id, isGroup, requested, raisedBy, reason, now, ct));
        }

        if (shortfalls.Count > 0)
        {
            throw new QuotaExceededException(shortfalls);
        }

        foreach (var ledger in ledgers)
        {
            ledger.Admissions++;
            ledger.LastAdmittedAt = now;
            session.Store(ledger);
        }
    }

    /// <summary>Takes the subjects' quota locks, owner then group (the same order in every admission), and reads their ledgers.</summary>
    private async Task<List<QuotaLedger>> LockLedgersAsync(IDocumentSession session, IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        await EnsureLedgersAsync(ids, ct);
        foreach (var id in ids)
        {
            await TransactionLocks.TakeAsync(session, TransactionLocks.Quota, id, ct);
        }

        var ledgers = new List<QuotaLedger>();
        foreach (var id in ids)
        {
            ledgers.Add(await session.LoadAsync<QuotaLedger>(id, ct) ?? throw new InvalidOperationException($"The quota ledger of {id} is missing."));
        }

        return ledgers;
    }

    /// <summary>
    /// What one subject's quota lacks for <paramref name="requested"/>; when <paramref name="raisedBy"/>
    /// is given, raises the limits to fit instead (events in the session) and nothing is lacking.
    /// </summary>
    private async Task<IReadOnlyList<QuotaShortfall>> CheckOrRaiseAsync(
        IDocumentSession session, Guid id, bool isGroup, QuotaUsage requested, ClaimsPrincipal? raisedBy, string? reason, DateTimeOffset now, CancellationToken ct)
    {
        var quota = await EffectiveAsync(session, id, isGroup, ct);
        var inUse = await InUseAsync(session, id, isGroup, ct);
        var subject = isGroup ? $"group '{(await session.LoadAsync<Group>(id, ct))?.Name}'" : null;
        var shortfalls = QuotaRules.Check(quota.Limits, inUse, requested, subject);
        if (shortfalls.Count == 0 || raisedBy is null)
        {
            return shortfalls;
        }

        var raised = QuotaRules.RaisedToFit(quota.Limits, inUse, requested);
        session.Events.Append(id, new QuotaSet(id, isGroup ? QuotaSubject.Group : QuotaSubject.User, raised, quota.MaxLease, raisedBy.UserId(), raisedBy.Identity?.Name ?? "", now, reason));
        audit.Add(session, raisedBy, AuditKind.QuotaChanged, $"Raise the quota of {subject ?? "user " + id} to {Describe(raised)}{(reason is null ? "" : $" ({reason})")}");
        return [];
    }

    private async Task EnsureLedgersAsync(IEnumerable<Guid> ids, CancellationToken ct)
    {
        foreach (var id in ids)
        {
            await using var session = store.LightweightSession();
            if (await session.LoadAsync<QuotaLedger>(id, ct) is not null)
            {
                continue;
            }

            session.Insert(new QuotaLedger { Id = id });
            try
            {
                await session.SaveChangesAsync(ct);
            }
            catch (DocumentAlreadyExistsException)
            {
                // Another create made it first: as good.
            }
        }
    }

    public static string Describe(QuotaLimits limits) => string.Join(", ", QuotaRules.Resources.Select(r =>
        $"{QuotaRules.Name(r)} {(limits[r] is { } limit ? QuotaRules.Amount(r, limit) : "unlimited")}")
        .Append($"networks {Count(limits.Networks)}").Append($"port forwards {Count(limits.PortForwards)}"));

    private static string Count(int? limit) => limit is { } n ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unlimited";

    public static string? Validate(QuotaLimits limits, TimeSpan? maxLease) =>
        QuotaRules.Resources.FirstOrDefault(r => limits[r] is < 0) is var negative && limits[negative] is < 0
            ? $"{char.ToUpperInvariant(QuotaRules.Name(negative)[0])}{QuotaRules.Name(negative)[1..]}: 0 or more, or empty for no limit."
            : limits.Networks is < 0 ? "Networks: 0 or more, or empty for no limit."
            : limits.PortForwards is < 0 ? "Port forwards: 0 or more, or empty for no limit."
            : maxLease is { } lease && (lease < TimeSpan.FromMinutes(1) || lease > TimeSpan.FromDays(3650))
                ? "Longest lease: between 1 minute and 10 years, or empty for no maximum."
                : null;

    /// <summary>Sets the limits of a user, a group or one of the defaults. Admins only.</summary>
    public async Task SetAsync(ClaimsPrincipal admin, Guid id, QuotaSubject subject, QuotaLimits limits, TimeSpan? maxLease, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        if (Validate(limits, maxLease) is { } problem)
        {
            throw new RefusedException(problem, "limits");
        }

        await using var session = store.LightweightSession();
        var name = await SubjectNameAsync(session, id, subject, ct);
        session.Events.Append(id, new QuotaSet(id, subject, limits, maxLease, admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()));
        audit.Add(session, admin, AuditKind.QuotaChanged, $"Set the quota of {name} to {Describe(limits)}{(maxLease is { } l ? $", longest lease {l}" : "")}");
        await session.SaveChangesAsync(ct);
        changes.Publish(new QuotasChanged());
    }

    /// <summary>Removes a user's or group's override: the default applies again.</summary>
    public async Task ClearAsync(ClaimsPrincipal admin, Guid id, CancellationToken ct = default)
    {
        RequireAdmin(admin);
        await using var session = store.LightweightSession();
        var quota = await session.LoadAsync<Quota>(id, ct) ?? throw new RefusedException("That quota is the default already.");
        var name = await SubjectNameAsync(session, id, quota.Subject, ct);
        session.Events.Append(id, new QuotaCleared(admin.UserId(), admin.Identity?.Name ?? "", clock.GetUtcNow()));
        audit.Add(session, admin, AuditKind.QuotaChanged, $"Reset the quota of {name} to the default");
        await session.SaveChangesAsync(ct);
        changes.Publish(new QuotasChanged());
    }

    private static async Task<string> SubjectNameAsync(IQuerySession session, Guid id, QuotaSubject subject, CancellationToken ct) => subject switch
    {
        QuotaSubject.UserDefault => "users (default)",
        QuotaSubject.GroupDefault => "groups (default)",
        QuotaSubject.User => (await session.LoadAsync<PortalUser>(id, ct))?.UserName is { } user ? $"user {user}" : throw new RefusedException("No such user."),
        _ => (await session.LoadAsync<Group>(id, ct))?.Name is { } group ? $"group {group}" : throw new RefusedException("No such group."),
    };

    private static void RequireAdmin(ClaimsPrincipal user)
    {
        if (!user.IsAdmin())
        {
            throw new RefusedException("Only admins may change quotas.");
        }
    }
}
