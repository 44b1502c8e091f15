using System.Security.Claims;
using System.Security.Cryptography;
using Marten;
using Paddock.Portal.Features.Vms;

namespace Paddock.Portal.Features.Console;

/// <summary>A view-only share link of a VM's screen, as stored: only the hash of its secret.</summary>
public sealed class ConsoleShare
{
    /// <summary>SHA-256 of the link's secret, hex (<see cref="ConsoleTickets.IdOf"/>): it names the link without opening it.</summary>
    public string Id { get; set; } = "";

    public Guid VmId { get; set; }

    public string MadeBy { get; set; } = "";

    public DateTimeOffset MadeAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>
/// View-only share links: the owner or an admin makes one with an expiry, and any signed-in person
/// who has it watches the VM's screen, never touching it, until it expires or is revoked. Opening
/// it issues a single-use ticket as every console does; revoking it ends its viewers' sessions at once.
/// </summary>
public sealed class ConsoleShares(IDocumentStore store, Shared.ChangeNotifier<ConsoleViewersChanged> changes, Shared.Audit audit, TimeProvider clock)
{
    /// <summary>How long a link may live, as the form offers it.</summary>
    public static readonly IReadOnlyDictionary<TimeSpan, string> Lifetimes = new Dictionary<TimeSpan, string>
    {
        [TimeSpan.FromMinutes(15)] = "15 minutes",
        [TimeSpan.FromHours(1)] = "1 hour",
        [TimeSpan.FromHours(8)] = "8 hours",
        [TimeSpan.FromDays(1)] = "1 day",
        [TimeSpan.FromDays(7)] = "7 days",
    };

    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(1);

    /// <summary>The page a link opens.</summary>
    public static string PathOf(string secret) => $"/console-share/{secret}";

    /// <summary>Makes a link to the VM's screen; its secret is returned once, here.</summary>
    public async Task<(ConsoleShare Share, string Secret)> MakeAsync(ClaimsPrincipal by, Guid vmId, TimeSpan lifetime, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var vm = await VmRights.LoadAsync(session, by, vmId, VmAction.ManageViewers, ct);
        if (!Lifetimes.ContainsKey(lifetime))
        {
            throw new RefusedException($"Expiry: one of {string.Join(", ", Lifetimes.Keys.Select(l => (int)l.TotalMinutes))} minutes.", "minutes");
        }

        var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var now = clock.GetUtcNow();
        var share = new ConsoleShare { Id = ConsoleTickets.IdOf(secret), VmId = vmId, MadeBy = by.Identity?.Name ?? "", MadeAt = now, ExpiresAt = now + lifetime };
        session.Insert(share);
        await session.SaveChangesAsync(ct);
        await audit.RecordAsync(by, Shared.AuditKind.ConsoleChanged, $"Shared the screen of {vm.Name} view-only until {share.ExpiresAt:u}", ct, vmId);
        changes.Publish(new ConsoleViewersChanged(vmId));
        return (share, secret);
    }

    /// <summary>The VM's links that still open.</summary>
    public async Task<IReadOnlyList<ConsoleShare>> ListAsync(Guid vmId, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var now = clock.GetUtcNow();
        return await session.Query<ConsoleShare>().Where(s => s.VmId == vmId && s.ExpiresAt > now).OrderBy(s => s.ExpiresAt).ToListAsync(ct);
    }

    /// <summary>The link <paramref name="secret"/> opens, while it is live; null for any other text.</summary>
    public async Task<ConsoleShare?> OpenAsync(string? secret, CancellationToken ct = default) =>
        secret is { Length: > 0 and <= 128 } ? await LiveAsync(ConsoleTickets.IdOf(secret), ct) : null;

    /// <summary>The link by its id, while it is live.</summary>
    public async Task<ConsoleShare?> LiveAsync(string id, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<ConsoleShare>(id, ct) is { } share && share.ExpiresAt > clock.GetUtcNow() ? share : null;
    }

    /// <summary>Revokes a link: its viewers' sessions end at once.</summary>
    public async Task RevokeAsync(ClaimsPrincipal by, Guid vmId, string id, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        await VmRights.LoadAsync(session, by, vmId, VmAction.ManageViewers, ct);
        if (await session.LoadAsync<ConsoleShare>(id, ct) is not { } share || share.VmId != vmId)
        {
            return;
        }

        session.Delete(share);
        await session.SaveChangesAsync(ct);
        await audit.RecordAsync(by, Shared.AuditKind.ConsoleChanged, "Revoked a view-only share link of the screen", ct, vmId);
        changes.Publish(new ConsoleViewersChanged(vmId));
    }
}

/// <summary>A link is over once it expires.</summary>
public sealed class ConsoleShareExpiry : Shared.IExpiredState
{
    public void Purge(IDocumentSession session, DateTimeOffset now) => session.DeleteWhere<ConsoleShare>(s => s.ExpiresAt < now);
}
