using System.Collections.Concurrent;
using System.Security.Claims;
using Marten;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;

namespace Paddock.Portal.Features.Accounts;

/// <summary>
/// Whether a signed-in session still stands: the account exists, is enabled and carries the same
/// security stamp as when the session began. Answers are cached for a few seconds so that a
/// busy page does not ask PostgreSQL on every request; the cache is dropped at once for an account
/// changed in this process.
/// </summary>
public sealed class UserSessions(IDocumentStore store, TimeProvider clock)
{
    public const string StampClaim = "paddock:stamp";

    /// <summary>How stale an answer may be: disabling an account ends its sessions within about this long.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Guid, (string? Stamp, DateTimeOffset At)> _cache = new();

    public async Task<bool> IsCurrentAsync(ClaimsPrincipal principal, CancellationToken ct = default)
    {
        var id = principal.UserId();
        var stamp = principal.FindFirstValue(StampClaim);
        if (id == Guid.Empty || stamp is null)
        {
            return false;
        }

        var now = clock.GetUtcNow();
        if (!_cache.TryGetValue(id, out var known) || now - known.At > CacheFor)
        {
            await using var session = store.QuerySession();
            var user = await session.LoadAsync<PortalUser>(id, ct);
            known = (user is { Disabled: false } ? user.SecurityStamp : null, now);
            _cache[id] = known;
        }

        return known.Stamp == stamp;
    }

    /// <summary>An account changed here: the next check reads it again.</summary>
    public void Forget(Guid userId) => _cache.TryRemove(userId, out _);
}

/// <summary>
/// Checks every open circuit's user again every few seconds: a disabled account's pages lose their
/// authentication and go to the sign-in page (which ends the circuit).
/// </summary>
public sealed class RevalidatingAuthentication(ILoggerFactory logs, UserSessions sessions)
    : RevalidatingServerAuthenticationStateProvider(logs)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromSeconds(10);

    protected override Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken) =>
        authenticationState.User.Identity?.IsAuthenticated == true
            ? sessions.IsCurrentAsync(authenticationState.User, cancellationToken)
            : Task.FromResult(true);
}
