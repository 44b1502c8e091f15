using Marten;

namespace Paddock.Portal.Features.Images;

/// <summary>
/// Bytes an upload in progress holds against its uploader's image storage: taken before a byte is
/// streamed, so parallel uploads cannot pass the storage together, and given back when the upload
/// ends (kept as the image's size, or freed). It expires unless renewed, so one a crashed portal left
/// behind stops counting after <see cref="UploadReservations.Lease"/>.
/// </summary>
public sealed class UploadReservation
{
    public Guid Id { get; set; }

    public Guid OwnerId { get; set; }

    public long Bytes { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>Where one person's image storage stands: the limit, what their images take, what their other uploads in progress hold.</summary>
public sealed record StorageStanding(long Quota, long Used, long Reserved)
{
    /// <summary>What is left for one more upload.</summary>
    public long Left => Math.Max(0, Quota - Used - Reserved);

    public bool Fits(long bytes) => bytes <= Left;

    /// <summary>The refusal of <paramref name="bytes"/> for <paramref name="what"/>, with the numbers.</summary>
    public string Refusal(long bytes, string what) =>
        $"Image storage: {what} needs {Sizes.Mib(bytes)}; you use {Sizes.Mib(Used)}{(Reserved > 0 ? $" and your other uploads in progress hold {Sizes.Mib(Reserved)}" : "")} of {Sizes.Mib(Quota)}, {Sizes.Mib(Left)} left.";

    /// <summary>What the reservations other than <paramref name="self"/> hold: an expired one no longer counts.</summary>
    public static long ReservedBy(IEnumerable<UploadReservation> reservations, Guid self, DateTimeOffset now) =>
        reservations.Where(r => r.Id != self && r.ExpiresAt > now).Sum(r => r.Bytes);
}

/// <summary>
/// Something besides library images that takes a person's image storage (templates do): the
/// feature that owns it says how many bytes, so that Images need not know it.
/// </summary>
public interface IStorageHolder
{
    /// <summary>The bytes <paramref name="owner"/>'s things take, read in <paramref name="session"/>.</summary>
    Task<long> BytesOfAsync(IQuerySession session, Guid owner, CancellationToken ct);
}

/// <summary>
/// Takes, renews and gives back upload reservations. Every decision about one person's storage
/// runs in a transaction holding the PostgreSQL advisory lock on that person's storage, so two
/// uploads decide one after the other, each seeing the other's reservation.
/// </summary>
public sealed class UploadReservations(IDocumentStore store, TimeProvider clock, IEnumerable<IStorageHolder> holders)
{
    /// <summary>How long a reservation lasts unless renewed (an upload renews it while it streams).</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Sets reservation <paramref name="id"/> of <paramref name="owner"/> to <paramref name="bytes"/> (new, renewed or resized)
    /// when it fits, and returns where the storage stood without it; otherwise throws a 413 with the numbers.
    /// </summary>
    public async Task<StorageStanding> ReserveAsync(Guid owner, Guid id, long bytes, string what, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var standing = await StandingAsync(session, owner, id, ct);
        if (!standing.Fits(bytes))
        {
            throw new ImageRequestException(standing.Refusal(bytes, what), "file", StatusCodes.Status413PayloadTooLarge);
        }

        session.Store(new UploadReservation { Id = id, OwnerId = owner, Bytes = bytes, ExpiresAt = clock.GetUtcNow() + Lease });
        await session.SaveChangesAsync(ct);
        return standing;
    }

    /// <summary>
    /// In <paramref name="session"/> (which the caller saves with the new image): checks that the image's
    /// <paramref name="bytes"/> fit once more (a reservation may have lapsed meanwhile) and drops the reservation.
    /// </summary>
    public async Task CommitAsync(IDocumentSession session, Guid owner, Guid id, long bytes, CancellationToken ct)
    {
        var standing = await StandingAsync(session, owner, id, ct);
        if (!standing.Fits(bytes))
        {
            throw new ImageRequestException(standing.Refusal(bytes, "the converted image"), "file", StatusCodes.Status413PayloadTooLarge);
        }

        session.Delete<UploadReservation>(id);
    }

    /// <summary>Frees a reservation (an upload refused or broken off).</summary>
    public async Task ReleaseAsync(Guid id)
    {
        await using var session = store.LightweightSession();
        session.Delete<UploadReservation>(id);
        await session.SaveChangesAsync(CancellationToken.None);
    }

    /// <summary>
    /// Where <paramref name="owner"/>'s storage stands, deciding in <paramref name="session"/>'s transaction
    /// under their storage lock: what else takes storage (a template's conversion) saves with it.
    /// </summary>
    public Task<StorageStanding> StandingAsync(IDocumentSession session, Guid owner, CancellationToken ct) => StandingAsync(session, owner, Guid.Empty, ct);

    /// <summary>Takes the owner's storage lock in <paramref name="session"/>'s transaction, clears lapsed reservations, and reads the standing.</summary>
    private async Task<StorageStanding> StandingAsync(IDocumentSession session, Guid owner, Guid self, CancellationToken ct)
    {
        await TransactionLocks.TakeAsync(session, TransactionLocks.Storage, owner, ct);
        var now = clock.GetUtcNow();
        var reservations = await session.Query<UploadReservation>().Where(r => r.OwnerId == owner).ToListAsync(ct);
        foreach (var lapsed in reservations.Where(r => r.ExpiresAt <= now && r.Id != self))
        {
            session.Delete(lapsed);
        }

        var settings = await ImageService.SettingsAsync(session, ct);
        var used = (await session.Query<LibraryImage>().Where(i => i.OwnerId == owner).ToListAsync(ct)).Sum(i => i.SizeBytes);
        foreach (var holder in holders)
        {
            used += await holder.BytesOfAsync(session, owner, ct);
        }

        return new StorageStanding(settings.StoragePerUserMiB * 1024L * 1024, used, StorageStanding.ReservedBy(reservations, self, now));
    }
}
