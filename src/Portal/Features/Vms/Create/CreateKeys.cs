using System.Security.Cryptography;
using System.Text;
using Marten;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// A create's <c>Idempotency-Key</c>, as kept: one per owner and key (the key itself only hashed),
/// naming the VM the first create with it made. The unique index <c>uq_create_key</c> lets the
/// database decide between two creates with the same key at once.
/// </summary>
public sealed class CreateKey
{
    public Guid Id { get; set; }

    /// <summary>The owner's id and the SHA-256 of the key.</summary>
    public string Key { get; set; } = "";

    public Guid OwnerId { get; set; }

    public Guid VmId { get; set; }

    public DateTimeOffset At { get; set; }
}

/// <summary>Thrown inside a create whose key another create took meanwhile: the caller answers with that create's VM.</summary>
public sealed class CreateKeyTakenException() : Exception("Another create with this Idempotency-Key came first.");

/// <summary>Creates that a client may send again (a lost answer, a retried job): the same key makes one VM, as Stripe's API does.</summary>
public static class CreateKeys
{
    public const string Header = "Idempotency-Key";

    /// <summary>How long a key names its VM; a key used again after that makes a new one.</summary>
    public static readonly TimeSpan Kept = TimeSpan.FromHours(24);

    /// <summary>What is wrong with a key as sent, or null: 1 to 255 visible ASCII characters.</summary>
    public static string? Problem(string key) =>
        key.Length is >= 1 and <= 255 && key.All(c => c is >= '!' and <= '~')
            ? null
            : $"{Header}: 1 to 255 visible ASCII characters (a UUID will do).";

    /// <summary>The kept form of <paramref name="key"/> for <paramref name="owner"/>.</summary>
    public static string Of(Guid owner, string key) => $"{owner:N}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(key)))}";

    /// <summary>The VM the key made within <see cref="Kept"/>, or null.</summary>
    public static async Task<Guid?> FindAsync(IQuerySession session, string key, DateTimeOffset now, CancellationToken ct)
    {
        var since = now - Kept;
        var found = await session.Query<CreateKey>().Where(k => k.Key == key && k.At >= since).FirstOrDefaultAsync(ct);
        return found?.VmId;
    }

    /// <summary>Keeps the key with the VM being created, in its transaction; drops the owner's keys past <see cref="Kept"/> (this one's too).</summary>
    public static void Keep(IDocumentSession session, Guid owner, string key, Guid vmId, DateTimeOffset now)
    {
        var since = now - Kept;
        session.DeleteWhere<CreateKey>(k => k.OwnerId == owner && k.At < since);
        session.Insert(new CreateKey { Id = Guid.NewGuid(), Key = key, OwnerId = owner, VmId = vmId, At = now });
    }
}
