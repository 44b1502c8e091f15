using JasperFx;
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
}

/// <summary>Keeps failed sign-ins in PostgreSQL, so every portal process sees the same counts.</summary>
public sealed class SignInThrottle(IDocumentStore store, Microsoft.Extensions.Options.IOptions<PortalOptions> options, TimeProvider clock)
{
    public static string AccountKey(string userName) => $"user:{userName.Trim().ToLowerInvariant()}";

    public static string AddressKey(string? address) => $"address:{address ?? "unknown"}";

    /// <summary>The longest wait any of the keys asks for, or null when sign-in may be tried.</summary>
    public async Task<(TimeSpan Wait, bool Locked)?> RefusalAsync(IEnumerable<string> keys, CancellationToken ct)
    {
        await using var session = store.QuerySession();
        var now = clock.GetUtcNow();
        var records = await session.LoadManyAsync<SignInFailures>(ct, keys.ToArray());
        return records.Select(r => ThrottleRules.Refusal(r, now, options.Value.SignIn)).Where(r => r is not null).OrderByDescending(r => r!.Value.Locked).ThenByDescending(r => r!.Value.Wait).FirstOrDefault();
    }

    public async Task FailedAsync(IEnumerable<string> keys, CancellationToken ct)
    {
        foreach (var key in keys)
        {
            for (var attempt = 0; attempt < 3; attempt++)
            {
                await using var session = store.LightweightSession();
                var record = await session.LoadAsync<SignInFailures>(key, ct);
                session.Store(ThrottleRules.AfterFailure(record, key, clock.GetUtcNow(), options.Value.SignIn));
                try
                {
                    await session.SaveChangesAsync(ct);
                    break;
                }
                catch (ConcurrencyException)
                {
                    // Another failure for the same key was counted meanwhile: count this one on top.
                }
            }
        }
    }

    public async Task SucceededAsync(string accountKey, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.Delete<SignInFailures>(accountKey);
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
        session.Delete<SignInFailures>(key);
        await session.SaveChangesAsync(ct);
    }
}
