using System.Security.Claims;
using Marten;
using Marten.Patching;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Quotas;

namespace Paddock.Portal.Features.Tokens;

/// <summary>A token just made: the only time its text is seen.</summary>
public sealed record MadeToken(ApiToken Token, string Text);

/// <summary>A token as its owner and the admins see it.</summary>
public sealed record TokenSummary(Guid Id, string Name, string Owner, TokenScope Scope, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? LastUsedAt, string? LastUsedFrom)
{
    public static TokenSummary Of(ApiToken t) => new(t.Id, t.Name, t.OwnerName, t.Scope, t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.LastUsedFrom);
}

public sealed class TokenNotFoundException() : Exception("No such token.");

/// <summary>A token was made or revoked: the token pages load again.</summary>
public sealed record TokensChanged;

/// <summary>
/// Personal API tokens: made by a signed-in person for themselves, used as <c>Authorization: Bearer</c>
/// on <c>/api</c>, revoked by their owner or an admin. A token stands for its owner only while the
/// account does: every call reads the token and the account again, so a disabled or deleted account's
/// tokens stop at once, as do revoked and expired ones.
/// </summary>
public sealed class ApiTokens(IDocumentStore store, Audit audit, ChangeNotifier<TokensChanged> changes, TimeProvider clock)
{
    public const int MaxNameLength = 64;
    public const int MaxPerUser = 50;

    /// <summary>How long a token lasts when its maker does not say (or the policy's longest, if shorter).</summary>
    public const int DefaultDays = 90;

    /// <summary>How often a token's last use is written: often enough to read, rarely enough not to write on every call.</summary>
    public static readonly TimeSpan LastUseEvery = TimeSpan.FromMinutes(1);

    public async Task<MadeToken> MakeAsync(ClaimsPrincipal user, string? name, int? days, TokenScope scope, CancellationToken ct = default)
    {
        if (user.TokenName() is not null)
        {
            throw new RefusedException("A token cannot make tokens: sign in to make one.");
        }

        var trimmed = name?.Trim() ?? "";
        if (trimmed.Length is 0 or > MaxNameLength || trimmed.Any(char.IsControl))
        {
            throw new RefusedException($"Name: 1 to {MaxNameLength} characters, no control characters.", "name");
        }

        if (!Enum.IsDefined(scope))
        {
            throw new RefusedException("Scope: ReadOnly or Everything.", "scope");
        }

        await using var session = store.LightweightSession();
        var longest = (int)(await PolicyService.GetAsync(session, ct)).MaxTokenLifetime.TotalDays;
        var wanted = days ?? Math.Min(DefaultDays, longest);
        if (wanted < 1 || wanted > longest)
        {
            throw new RefusedException($"Expires in: 1 to {longest} days (the longest the policy allows).", "days");
        }

        var lifetime = TimeSpan.FromDays(wanted);

        var owner = user.UserId();
        var mine = await session.Query<ApiToken>().Where(t => t.OwnerId == owner).Select(t => t.Name).ToListAsync(ct);
        if (mine.Count >= MaxPerUser)
        {
            throw new RefusedException($"You have {MaxPerUser} tokens, the most one may have: revoke one first.");
        }

        if (mine.Contains(trimmed, StringComparer.OrdinalIgnoreCase))
        {
            throw new RefusedException($"You already have a token named '{trimmed}'.", "name");
        }

        var now = clock.GetUtcNow();
        var id = Guid.NewGuid();
        var (text, hash) = TokenText.New(id);
        var token = new ApiToken
        {
            Id = id, OwnerId = owner, OwnerName = user.Identity?.Name ?? "", Name = trimmed, Scope = scope, CreatedAt = now, ExpiresAt = now + lifetime, SecretHash = hash,
        };
        session.Insert(token);
        audit.Add(session, user, AuditKind.TokenChanged, $"Made API token '{trimmed}' ({Describe(scope)}, expires {token.ExpiresAt:yyyy-MM-dd HH:mm} UTC)");
        await session.SaveChangesAsync(ct);
        changes.Publish(new TokensChanged());
        return new MadeToken(token, text);
    }

    /// <summary>The caller's own tokens; with <paramref name="everyone"/>, an admin's view of all of them.</summary>
    public async Task<IReadOnlyList<TokenSummary>> ListAsync(ClaimsPrincipal user, bool everyone, CancellationToken ct = default)
    {
        await using var session = store.QuerySession();
        var owner = user.UserId();
        var query = everyone && user.IsAdmin() ? session.Query<ApiToken>() : session.Query<ApiToken>().Where(t => t.OwnerId == owner);
        var tokens = await query.OrderBy(t => t.OwnerName).ThenBy(t => t.Name).ToListAsync(ct);
        return [.. tokens.Select(TokenSummary.Of)];
    }

    /// <summary>Revokes the caller's token, or anyone's for an admin; anyone else's is not found.</summary>
    public async Task RevokeAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        var token = await session.LoadAsync<ApiToken>(id, ct);
        if (token is null || (token.OwnerId != user.UserId() && !user.IsAdmin()))
        {
            throw new TokenNotFoundException();
        }

        session.Delete(token);
        var whose = token.OwnerId == user.UserId() ? "" : $" of {token.OwnerName}";
        audit.Add(session, user, AuditKind.TokenChanged, $"Revoked API token '{token.Name}'{whose}");
        await session.SaveChangesAsync(ct);
        changes.Publish(new TokensChanged());
    }

    /// <summary>
    /// The principal a token's text stands for: its owner's claims and the token's, or null when
    /// the text is no token, or the token is unknown, expired, or its account disabled or gone.
    /// </summary>
    public async Task<ClaimsPrincipal?> AuthenticateAsync(string text, string? from, CancellationToken ct = default)
    {
        if (TokenText.Parse(text) is not var (id, secret))
        {
            return null;
        }

        await using var session = store.LightweightSession();
        var token = await session.LoadAsync<ApiToken>(id, ct);
        var now = clock.GetUtcNow();
        if (token is null || token.ExpiresAt <= now || !TokenText.Matches(secret, token.SecretHash))
        {
            return null;
        }

        var user = await session.LoadAsync<PortalUser>(token.OwnerId, ct);
        if (user is null || user.Disabled)
        {
            return null;
        }

        if (token.LastUsedAt is not { } last || now - last >= LastUseEvery)
        {
            // A patch, not a store: a revoke at the same moment is not undone.
            session.Patch<ApiToken>(id).Set(t => t.LastUsedAt, now);
            session.Patch<ApiToken>(id).Set(t => t.LastUsedFrom, from);
            // Every use is in the audit, a minute at a time: a scrape every 15 s makes 4 calls and one entry.
            session.Insert(new AuditEntry
            {
                Id = Guid.NewGuid(), At = now, Kind = AuditKind.TokenUsed, Actor = user.UserName, ActorId = user.Id, Token = token.Name,
                What = $"Used from {from ?? "an unknown address"} (its uses within the next minute are not listed one by one; the changes it makes are)",
            });
            await session.SaveChangesAsync(ct);
        }

        var identity = (ClaimsIdentity)Accounts.Accounts.ToPrincipal(user).Identity!;
        var claims = identity.Claims.Concat(
        [
            new Claim(TokenClaims.Id, token.Id.ToString()),
            new Claim(TokenClaims.Name, token.Name),
            new Claim(TokenClaims.Scope, token.Scope == TokenScope.ReadOnly ? TokenClaims.ReadOnly : TokenClaims.Everything),
        ]);
        return new ClaimsPrincipal(new ClaimsIdentity(claims, TokenAuthentication.Name, ClaimTypes.Name, ClaimTypes.Role));
    }

    public static string Describe(TokenScope scope) => scope == TokenScope.ReadOnly ? "read-only" : "everything its owner may do";
}
