using System.Security.Cryptography;
using System.Text;
using Marten;
using JasperFx;
using Marten.Exceptions;
using Microsoft.Extensions.Options;
using Paddock.Engine.Contract;

namespace Paddock.Portal.Features.Console;

/// <summary>A console ticket as stored: only the hash of the secret, bound to one user and one VM.</summary>
public sealed class ConsoleTicket
{
    /// <summary>SHA-256 of the ticket, hex.</summary>
    public string Id { get; set; } = "";

    public Guid UserId { get; set; }

    public Guid VmId { get; set; }

    /// <summary>A ticket for the screen does not open the serial port, nor the other way round.</summary>
    public ConsoleKind Kind { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public bool Used { get; set; }

    /// <summary>The view-only share link it was issued through (<see cref="ConsoleShare.Id"/>); null for a ticket of someone who may use the VM.</summary>
    public string? ShareId { get; set; }
}

/// <summary>
/// Short-lived single-use console tickets (Nova stores only the token's hash; Proxmox binds a
/// ticket to user and VM). Consuming one is a version-checked write, so of two simultaneous
/// upgrades with one ticket exactly one wins.
/// </summary>
public sealed class ConsoleTickets(IDocumentStore store, IOptions<PortalOptions> options, TimeProvider clock)
{
    /// <param name="shareId">The share link the ticket is issued through: it then opens only the view-only socket.</param>
    public async Task<string> IssueAsync(Guid userId, Guid vmId, ConsoleKind kind, CancellationToken ct = default, string? shareId = null)
    {
        var ticket = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        await using var session = store.LightweightSession();
        session.Insert(new ConsoleTicket
        {
            Id = IdOf(ticket),
            UserId = userId,
            VmId = vmId,
            Kind = kind,
            ExpiresAt = clock.GetUtcNow() + options.Value.Console.TicketLifetime,
            ShareId = shareId,
        });
        await session.SaveChangesAsync(ct);
        return ticket;
    }

    /// <summary>
    /// The ticket, exactly once, when it is live, issued to this user for this VM and kind, and through
    /// a share link exactly when <paramref name="shared"/>; otherwise null.
    /// </summary>
    public async Task<ConsoleTicket?> ConsumeAsync(string? ticket, Guid userId, Guid vmId, ConsoleKind kind, bool shared = false, CancellationToken ct = default)
    {
        if (string.IsNullOrEmpty(ticket) || ticket.Length > 128)
        {
            return null;
        }

        await using var session = store.LightweightSession();
        var stored = await session.LoadAsync<ConsoleTicket>(IdOf(ticket), ct);
        if (stored is null || stored.Used || stored.UserId != userId || stored.VmId != vmId || stored.Kind != kind
            || stored.ShareId is null == shared || stored.ExpiresAt <= clock.GetUtcNow())
        {
            return null;
        }

        stored.Used = true;
        session.Store(stored);
        try
        {
            await session.SaveChangesAsync(ct);
            return stored;
        }
        catch (ConcurrencyException)
        {
            return null;
        }
    }

    /// <summary>What a secret (a ticket, a share link's) is stored and named as: its SHA-256, hex.</summary>
    public static string IdOf(string ticket) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ticket))).ToLowerInvariant();
}

/// <summary>A ticket is over once it expires, used or not.</summary>
public sealed class ConsoleTicketExpiry : Shared.IExpiredState
{
    public void Purge(IDocumentSession session, DateTimeOffset now) => session.DeleteWhere<ConsoleTicket>(t => t.ExpiresAt < now);
}
