using System.Security.Claims;
using Marten;

namespace Paddock.Portal.Shared;

public enum AuditKind
{
    SignIn,
    SignInFailed,
    SignInRefused,
    VmOperation,
    AccountChanged,
    GroupChanged,
    HostChanged,
    QuotaChanged,
    RequestChanged,
    PolicyChanged,
    /// <summary>A host's record of a VM's label or uid disagreed with the portal's.</summary>
    IsolationAlert,
    NetworkChanged,
    TokenChanged,
    /// <summary>A personal API token was used (at most one entry a minute per token; each change it makes is audited besides).</summary>
    TokenUsed,

    /// <summary>A view-only share link of a VM's screen made or revoked, or a console viewer disconnected.</summary>
    ConsoleChanged,
}

/// <summary>One thing that happened, for the admins' audit page: who, when, what, about which VM.</summary>
public sealed class AuditEntry
{
    public Guid Id { get; set; }

    public DateTimeOffset At { get; set; }

    public AuditKind Kind { get; set; }

    /// <summary>Who did it (or, for a failed sign-in, the name that was tried).</summary>
    public string Actor { get; set; } = "";

    public Guid? ActorId { get; set; }

    /// <summary>The personal API token the actor used, by name; null for a signed-in session.</summary>
    public string? Token { get; set; }

    /// <summary>"alice", or "alice via token ci".</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Who => Token is null ? Actor : $"{Actor} via token {Token}";

    public Guid? VmId { get; set; }

    public string What { get; set; } = "";

    public static AuditEntry Of(ClaimsPrincipal user, AuditKind kind, string what, DateTimeOffset at, Guid? vmId = null) => new()
    {
        Id = Guid.NewGuid(),
        At = at,
        Kind = kind,
        Actor = user.Identity?.Name ?? "",
        Token = user.TokenName(),
        ActorId = user.UserId() is var id && id != Guid.Empty ? id : null,
        VmId = vmId,
        What = what,
    };
}

/// <summary>Writes audit entries: inside the caller's transaction where there is one, on their own otherwise.</summary>
public sealed class Audit(IDocumentStore store, TimeProvider clock)
{
    public void Add(IDocumentSession session, ClaimsPrincipal user, AuditKind kind, string what, Guid? vmId = null) =>
        session.Insert(AuditEntry.Of(user, kind, what, clock.GetUtcNow(), vmId));

    /// <summary>The same for work a background service does in a person's name (an evacuation, in its admin's), whether or not the account still exists.</summary>
    public void Add(IDocumentSession session, Guid actorId, string actor, AuditKind kind, string what) =>
        session.Insert(new AuditEntry { Id = Guid.NewGuid(), At = clock.GetUtcNow(), Kind = kind, Actor = actor, ActorId = actorId, What = what });

    public async Task RecordAsync(AuditEntry entry, CancellationToken ct = default)
    {
        entry.At = entry.At == default ? clock.GetUtcNow() : entry.At;
        await using var session = store.LightweightSession();
        session.Insert(entry);
        await session.SaveChangesAsync(ct);
    }

    public Task RecordAsync(ClaimsPrincipal user, AuditKind kind, string what, CancellationToken ct = default, Guid? vmId = null) =>
        RecordAsync(AuditEntry.Of(user, kind, what, clock.GetUtcNow(), vmId), ct);

    /// <summary>A filtered page of the log, newest first.</summary>
    public static async Task<IReadOnlyList<AuditEntry>> QueryAsync(
        IQuerySession session, string? actor, Guid? vmId, AuditKind? kind, DateTimeOffset? from, DateTimeOffset? to, int limit = 500, CancellationToken ct = default)
    {
        var query = session.Query<AuditEntry>().AsQueryable();
        if (!string.IsNullOrWhiteSpace(actor))
        {
            var name = actor.Trim();
            query = query.Where(e => e.Actor == name);
        }

        if (vmId is { } vm)
        {
            query = query.Where(e => e.VmId == vm);
        }

        if (kind is { } k)
        {
            query = query.Where(e => e.Kind == k);
        }

        if (from is { } start)
        {
            query = query.Where(e => e.At >= start);
        }

        if (to is { } end)
        {
            query = query.Where(e => e.At <= end);
        }

        return await query.OrderByDescending(e => e.At).Take(limit).ToListAsync(ct);
    }
}
