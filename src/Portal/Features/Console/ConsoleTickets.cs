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
}

/// <summary>
/// Short-lived single-use console tickets (Nova stores only the token's hash; Proxmox binds a
/// ticket to user and VM). Consuming one is a version-checked write, so of two simultaneous
/// upgrades with one ticket exactly one wins.
/// </summary>
public sealed class ConsoleTickets(IDocumentStore store, IOptions<PortalOptions> options, TimeProvider clock)
{
    public async Task<string> IssueAsync(Guid userId, Guid vmId, ConsoleKind kind, CancellationToken ct = default)
    {
        var ticket = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        await using var session = store.LightweightSession();
        session.Insert(new ConsoleTicket
        {
            Id = Hash(ticket),
            UserId = userId,
            VmId = vmId,
            Kind = kind,
            ExpiresAt = clock.GetUtcNow() + options.Value.Console.TicketLifetime,
        });
        await session.SaveChangesAsync(ct);
        return ticket;
    }

    /// <summary>True exactly once for a live ticket issued to this user for this VM.</summary>
    public async Task<bool> ConsumeAsync(string? ticket, Guid userId, Guid vmId, ConsoleKind kind, CancellationToken ct = default)
    {
        if (string.IsNullOrEmpty(ticket) || ticket.Length > 128)
        {
            return false;
        }

        await using var session = store.LightweightSession();
        var stored = await session.LoadAsync<ConsoleTicket>(Hash(ticket), ct);
        if (stored is null || stored.Used || stored.UserId != userId || stored.VmId != vmId || stored.Kind != kind || stored.ExpiresAt <= clock.GetUtcNow())
        {
            return false;
        }

        stored.Used = true;
        session.Store(stored);
        try
        {
            await session.SaveChangesAsync(ct);
            return true;
        }
        catch (ConcurrencyException)
        {
            return false;
        }
    }

    private static string Hash(string ticket) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ticket))).ToLowerInvariant();
}

/// <summary>A ticket is over once it expires, used or not.</summary>
public sealed class ConsoleTicketExpiry : Shared.IExpiredState
{
    public void Purge(IDocumentSession session, DateTimeOffset now) => session.DeleteWhere<ConsoleTicket>(t => t.ExpiresAt < now);
}
