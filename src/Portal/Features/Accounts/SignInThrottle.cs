using Marten;

namespace Paddock.Portal.Features.Accounts;

/// <summary>Failed sign-ins for one key: an account (<c>user:NAME</c>) or an address (<c>address:IP</c>).</summary>
public sealed class SignInFailures
{
    public string Id { get; set; } = "";

    public int Count { get; set; }

    public DateTimeOffset LastAt { get; set; }

    public DateTimeOffset? LockedUntil { get; set; }
}

/// <summary>How repeated failures slow sign-in down and then lock it: pure functions of the record and the time.</summary>
public static class ThrottleRules
{
    /// <summary>Failures older than this are forgotten.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    public static readonly TimeSpan LockFor = TimeSpan.FromMinutes(15);

    /// <summary>From how many failures attempts are spaced out, and from how many the key locks.</summary>
    public static (int SlowFrom, int LockAt) LimitsFor(string key, SignInLimits limits) =>
        key.StartsWith("address:", StringComparison.Ordinal) ? (limits.AddressSlowFrom, limits.AddressLockAt) : (limits.AccountSlowFrom, limits.AccountLockAt);

    /// <summary>Null when an attempt may go ahead now; otherwise how long to wait, and whether it is a lock.</summary>
    public static (TimeSpan Wait, bool Locked)? Refusal(SignInFailures? record, DateTimeOffset now, SignInLimits limits)
    {
        if (record is null || now - record.LastAt > Window && record.LockedUntil is null)
        {
            return null;
        }

        if (record.LockedUntil is { } until)
        {
            return until > now ? (until - now, true) : null;
        }

        var (slowFrom, _) = LimitsFor(record.Id, limits);
        if (record.Count < slowFrom)
        {
            return null;
        }

        // 1 s after the third failure, then 2, 4, 8 ... seconds between attempts.
        var spacing = TimeSpan.FromSeconds(Math.Pow(2, Math.Min(record.Count - slowFrom, 10)));
        var next = record.LastAt + spacing;
        return next > now ? (next - now, false) : null;
    }

    /// <summary>The record after one more failure at <paramref name="now"/>.</summary>
    public static SignInFailures AfterFailure(SignInFailures? record, string key, DateTimeOffset now, SignInLimits limits)
    {
        var expired = record is null || record.LockedUntil is { } until && until <= now || record.LockedUntil is null && now - record.LastAt > Window;
        var count = expired ? 1 : record!.Count + 1;
        return new SignInFailures
        {
            Id = key,
            Count = count,
            LastAt = now,
            LockedUntil = count >= LimitsFor(key, limits).LockAt ? now + LockFor : null,
        };
    }

    /// <summary>
    /// One guess, before its password is hashed: refused (the longest wait any key asks for, a lock
    /// first), or let through with every key's record already counting it as a failure. Counting
    /// first is what makes concurrent guesses wait for each other's count: the third one at once
    /// already finds the account slowed down. A right password hands the count back (<see cref="AfterSuccess"/>).
    /// </summary>
    public static SignInReservation Reserve(IReadOnlyList<(string Key, SignInFailures? Record)> keys, DateTimeOffset now, SignInLimits limits)
    {
        var refusal = keys.Select(k => Refusal(k.Record, now, limits)).Where(r => r is not null)
            .OrderByDescending(r => r!.Value.Locked).ThenByDescending(r => r!.Value.Wait).FirstOrDefault();
        return refusal is { } refused
            ? new SignInReservation(refused, [])
            : new SignInReservation(null, [.. keys.Select(k => AfterFailure(k.Record, k.Key, now, limits))]);
    }

    /// <summary>
    /// A key's record once a guess it counted turned out right: null (forgotten) for the account, as
    /// before; an address gives the one failure back, and the lock that failure alone set.
    /// </summary>
    public static SignInFailures? AfterSuccess(SignInFailures? record, SignInLimits limits)
    {
        if (record is null || !record.Id.StartsWith("address:", StringComparison.Ordinal))
        {
            return null;
        }

        var count = Math.Max(record.Count - 1, 0);
        return new SignInFailures
        {
            Id = record.Id,
            Count = count,
            LastAt = record.LastAt,
            LockedUntil = count >= LimitsFor(record.Id, limits).LockAt ? record.LockedUntil : null,
        };
    }
}

/// <summary>A guess refused (how long to wait, whether it is a lock), or counted: the records to store before hashing.</summary>
public sealed record SignInReservation((TimeSpan Wait, bool Locked)? Refusal, IReadOnlyList<SignInFailures> Counted);

/// <summary>Keeps failed sign-ins in PostgreSQL, so every portal process sees the same counts.</summary>
public sealed class SignInThrottle(IDocumentStore store, Microsoft.Extensions.Options.IOptions<PortalOptions> options, TimeProvider clock)
{
    public static string AccountKey(string userName) => $"user:{userName.Trim().ToLowerInvariant()}";

    public static string AddressKey(string? address) => $"address:{address ?? "unknown"}";

    /// <summary>
    /// Counts a guess on every key before its password is hashed, or refuses it (see
    /// <see cref="ThrottleRules.Reserve"/>). Under the keys' advisory locks, in one transaction: two
    /// guesses, in this process or another, never read the same count.
    /// </summary>
    public async Task<(TimeSpan Wait, bool Locked)?> ReserveAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var records = await LockAndLoadAsync(session, keys, ct);
        var reservation = ThrottleRules.Reserve(records, clock.GetUtcNow(), options.Value.SignIn);
        if (reservation.Refusal is null)
        {
            session.Store([.. reservation.Counted]);
            await session.SaveChangesAsync(ct);
        }

        // A refusal writes nothing: disposing the session rolls its transaction back.
        return reservation.Refusal;
    }

    /// <summary>The password was right: the account's failures are forgotten, the address gets its count back.</summary>
    public async Task SucceededAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        foreach (var (key, record) in await LockAndLoadAsync(session, keys, ct))
        {
            if (ThrottleRules.AfterSuccess(record, options.Value.SignIn) is { } after)
            {
                session.Store(after);
            }
            else
            {
                session.Delete<SignInFailures>(key);
            }
        }

        await session.SaveChangesAsync(ct);
    }

    /// <summary>Keys locked now, for admins.</summary>
    public async Task<IReadOnlyList<SignInFailures>> LockedAsync(CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var now = clock.GetUtcNow();
        return [.. (await session.Query<SignInFailures>().Where(f => f.LockedUntil != null).ToListAsync(ct)).Where(f => f.LockedUntil > now).OrderBy(f => f.Id)];
    }

    public async Task LiftAsync(string key, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        await LockAndLoadAsync(session, [key], ct);
        session.Delete<SignInFailures>(key);
        await session.SaveChangesAsync(ct);
    }

    /// <summary>Takes the keys' locks, always in one order (so two guesses never wait on each other in a circle), and reads their records.</summary>
    private static async Task<IReadOnlyList<(string Key, SignInFailures? Record)>> LockAndLoadAsync(IDocumentSession session, IReadOnlyList<string> keys, CancellationToken ct)
    {
        foreach (var key in keys.Distinct().Order(StringComparer.Ordinal))
        {
            await TransactionLocks.TakeAsync(session, TransactionLocks.SignIn, key, ct);
        }

        var records = (await session.LoadManyAsync<SignInFailures>(ct, keys.ToArray())).ToDictionary(r => r.Id);
        return [.. keys.Select(k => (k, records.GetValueOrDefault(k)))];
    }
}

/// <summary>Failures are over once their lock has ended, or, without a lock, once the window has passed since the last.</summary>
public sealed class SignInFailuresExpiry : Shared.IExpiredState
{
    public void Purge(IDocumentSession session, DateTimeOffset now)
    {
        var forgotten = now - ThrottleRules.Window;
        session.DeleteWhere<SignInFailures>(f => f.LastAt < forgotten && (f.LockedUntil == null || f.LockedUntil < now));
    }
}
