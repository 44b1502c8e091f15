using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Marten;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// A one-time token an admin hands to a new host. Only its hash is kept, as Nova keeps console
/// tokens: the token itself is shown once, when it is made.
/// </summary>
public sealed class JoinToken
{
    public Guid Id { get; set; }

    public string SecretHash { get; set; } = "";

    /// <summary>What the admin wrote down about it ("rack 3, second node").</summary>
    public string Note { get; set; } = "";

    public string CreatedBy { get; set; } = "";

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? UsedAt { get; set; }

    public Guid? UsedByHost { get; set; }
}

/// <summary>A join token or host credential that is not (or no longer) good, or a join token that cannot be made; says which in a sentence, and for the latter the <see cref="Field"/> at fault.</summary>
public sealed class EnrollmentException(string message, string? field = null) : Exception(message)
{
    public string? Field { get; } = field;
}

/// <summary>A join token, whole only here, and when it stops working.</summary>
public sealed record JoinTokenIssued(string Token, DateTimeOffset ExpiresAt);

/// <summary>A good join token presented for the id of a host that is enrolled and not revoked: a join token makes new hosts only.</summary>
public sealed class HostIdTakenException(string message) : Exception(message);

/// <summary>
/// How a host becomes one: an admin makes a one-time join token; the agent trades it for a
/// credential of its own (the portal keeps only its hash); an admin can revoke the host, which
/// ends its connection and makes its credential worthless. Like kubeadm's bootstrap tokens.
/// </summary>
public sealed class HostEnrollment(IDocumentStore store, ChangeNotifier<HostRevoked> revocations, ChangeNotifier<HostsChanged> changes, Audit audit, TimeProvider clock, ILogger<HostEnrollment> log)
{
    public const string JoinTokenPrefix = "pdj1";
    public const string CredentialPrefix = "pdh1";
    public static readonly TimeSpan DefaultValidity = TimeSpan.FromHours(24);
    public static readonly TimeSpan MaxValidity = TimeSpan.FromDays(30);

    private const string UnusableJoinToken = "The join token is unknown, already used or expired; an admin makes a new one on the Hosts page (Add host).";

    /// <summary>A new join token, returned whole only here.</summary>
    public async Task<JoinTokenIssued> IssueAsync(ClaimsPrincipal admin, string? note, TimeSpan validity, CancellationToken ct = default)
    {
        if (validity < TimeSpan.FromMinutes(1) || validity > MaxValidity)
        {
            throw new EnrollmentException($"A join token is valid for between a minute and {MaxValidity.TotalDays:0} days.", "validForMinutes");
        }

        var trimmed = note?.Trim() ?? "";
        if (trimmed.Length > 0 && DisplayNames.Problem(trimmed, 200, "Note") is { } problem)
        {
            throw new EnrollmentException(problem, "note");
        }

        var secret = NewSecret();
        var now = clock.GetUtcNow();
        var token = new JoinToken
        {
            Id = Guid.NewGuid(),
            SecretHash = Hash(secret),
            Note = trimmed,
            CreatedBy = admin.Identity?.Name ?? "command line",
            CreatedAt = now,
            ExpiresAt = now + validity,
        };
        await using var session = store.LightweightSession();
        session.Insert(token);
        audit.Add(session, admin, AuditKind.HostChanged, $"made a join token{(trimmed.Length > 0 ? $" ({trimmed})" : "")} valid until {token.ExpiresAt:u}");
        await session.SaveChangesAsync(ct);
        changes.Publish(new HostsChanged());
        return new JoinTokenIssued($"{JoinTokenPrefix}.{token.Id:N}.{secret}", token.ExpiresAt);
    }

    /// <summary>Join tokens not used yet and not expired, newest first.</summary>
    public async Task<IReadOnlyList<JoinToken>> PendingAsync(CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        await using var session = store.QuerySession();
        return await session.Query<JoinToken>().Where(t => t.UsedAt == null && t.ExpiresAt > now).OrderByDescending(t => t.CreatedAt).ToListAsync(ct);
    }

    public async Task WithdrawAsync(ClaimsPrincipal admin, Guid tokenId, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        session.Delete<JoinToken>(tokenId);
        audit.Add(session, admin, AuditKind.HostChanged, "withdrew a join token");
        await session.SaveChangesAsync(ct);
        changes.Publish(new HostsChanged());
    }

    /// <summary>
    /// Trades a join token for the host's own credential. The token is spent in the same
    /// transaction, version-checked: two agents presenting one token cannot both get in.
    /// A revoked host comes back only this way, with a new token from an admin; the id of an
    /// enrolled host that is not revoked is never re-keyed (<see cref="HostIdTakenException"/>).
    /// </summary>
    public async Task<string> EnrollAsync(string presented, Guid hostId, string hostName, CancellationToken ct = default)
    {
        if (hostId == Guid.Empty || !TryParse(presented, JoinTokenPrefix, out var tokenId, out var secret))
        {
            log.LogWarning("Host {Name} ({Host}) presented something that is not a join token", hostName, hostId);
            throw new EnrollmentException(UnusableJoinToken);
        }

        await using var session = store.LightweightSession();
        var token = await session.LoadAsync<JoinToken>(tokenId, ct);
        var now = clock.GetUtcNow();
        var why = WhyUnusable(token, secret, now);
        if (token is null || why is not null)
        {
            log.LogWarning("Host {Name} ({Host}) presented {Why}", hostName, hostId, why);
            throw new EnrollmentException(UnusableJoinToken);
        }

        // Only a new host id, or one an admin revoked, gets a credential: anyone holding a spare
        // token could otherwise re-key an existing host and speak for it (its VMs, its images).
        var existing = await session.LoadAsync<HostRecord>(hostId, ct);
        if (existing is { Revoked: false })
        {
            await RefuseTakenAsync(existing, token, hostName, now, ct);
        }

        var credential = NewSecret();
        SpendToken(session, token, hostId, now);
        StoreEnrolledHost(session, existing, hostId, hostName, Hash(credential), now);
        session.Insert(new AuditEntry
        {
            Id = Guid.NewGuid(),
            At = now,
            Kind = AuditKind.HostChanged,
            Actor = hostName,
            What = $"host {hostName} joined with the token made by {token.CreatedBy}{(token.Note.Length > 0 ? $" ({token.Note})" : "")}",
        });
        await SaveEnrollmentAsync(session, hostId, ct);
        changes.Publish(new HostsChanged());
        return $"{CredentialPrefix}.{hostId:N}.{credential}";
    }

    /// <summary>The host a credential belongs to, or null when it is unknown, revoked or wrong.</summary>
    public async Task<Guid?> AuthenticateAsync(string presented, CancellationToken ct = default)
    {
        if (!TryParse(presented, CredentialPrefix, out var hostId, out var secret))
        {
            return null;
        }

        await using var session = store.QuerySession();
        var host = await session.LoadAsync<HostRecord>(hostId, ct);
        return host is { Revoked: false, CredentialHash: { Length: > 0 } hash } && SameHash(hash, secret) ? hostId : null;
    }

    /// <summary>Revokes the host: its credential stops working at once and its connection is ended, whichever portal process holds it.</summary>
    public async Task RevokeAsync(ClaimsPrincipal admin, Guid hostId, CancellationToken ct = default)
    {
        // Its agent may report meanwhile; then revoke on top of that.
        await ConcurrencyRetry.RunAsync(async () =>
        {
            await using var session = store.LightweightSession();
            var host = await session.LoadAsync<HostRecord>(hostId, ct) ?? throw new EnrollmentException("There is no such host.");
            host.Revoked = true;
            host.RevokedAt = clock.GetUtcNow();
            host.CredentialHash = "";
            host.Connected = false;
            session.Store(host);
            audit.Add(session, admin, AuditKind.HostChanged, $"revoked host {host.Name}");
            await session.SaveChangesAsync(ct);
        });

        revocations.Publish(new HostRevoked(hostId));
        changes.Publish(new HostsChanged());
    }

    /// <summary>Why a presented join token cannot be used, for the log; null when it can.</summary>
    private static string? WhyUnusable(JoinToken? token, string secret, DateTimeOffset now) =>
        token is null ? "an unknown join token"
            : token.UsedAt is not null ? $"a join token used at {token.UsedAt:u}"
            : token.ExpiresAt <= now ? $"a join token expired at {token.ExpiresAt:u}"
            : !SameHash(token.SecretHash, secret) ? "a join token with a wrong secret"
            : null;

    /// <summary>Marks the token used; stored version-checked, so it is spent once.</summary>
    private static void SpendToken(IDocumentSession session, JoinToken token, Guid hostId, DateTimeOffset now)
    {
        token.UsedAt = now;
        token.UsedByHost = hostId;
        session.Store(token);
    }

    /// <summary>Gives the host (new, or revoked until now) its credential's hash.</summary>
    private static void StoreEnrolledHost(IDocumentSession session, HostRecord? existing, Guid hostId, string hostName, string credentialHash, DateTimeOffset now)
    {
        var host = existing ?? new HostRecord { Id = hostId, Name = hostName, RegisteredAt = now };
        host.CredentialHash = credentialHash;
        host.Revoked = false;
        host.RevokedAt = null;
        host.EnrolledAt = now;
        if (existing is null)
        {
            // Insert, not store: two tokens presented at once for one new id cannot both win.
            session.Insert(host);
        }
        else
        {
            session.Store(host);
        }
    }

    /// <summary>Saves the enrollment; losing a race for the token or for a new host id is a refusal.</summary>
    private static async Task SaveEnrollmentAsync(IDocumentSession session, Guid hostId, CancellationToken ct)
    {
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (JasperFx.ConcurrencyException)
        {
            throw new EnrollmentException(UnusableJoinToken);
        }
        catch (JasperFx.DocumentAlreadyExistsException)
        {
            throw new HostIdTakenException(TakenMessage(hostId));
        }
    }

    /// <summary>Writes down who tried to take an enrolled host's id with which token, then refuses; the token stays unused.</summary>
    private async Task RefuseTakenAsync(HostRecord existing, JoinToken token, string hostName, DateTimeOffset now, CancellationToken ct)
    {
        log.LogWarning("A join token made by {By} was presented for host {Host} ({Id}), which is enrolled; refused", token.CreatedBy, existing.Name, existing.Id);
        await audit.RecordAsync(new AuditEntry
        {
            Id = Guid.NewGuid(),
            At = now,
            Kind = AuditKind.HostChanged,
            Actor = hostName,
            What = $"refused a join token made by {token.CreatedBy}{(token.Note.Length > 0 ? $" ({token.Note})" : "")} presented for the id of enrolled host {existing.Name}",
        }, ct);
        throw new HostIdTakenException(TakenMessage(existing.Id));
    }

    private static string TakenMessage(Guid hostId) =>
        $"Host id {hostId} belongs to an enrolled host; a join token enrols a new host only. To give that host a new credential, an admin revokes it first on the Hosts page.";

    private static bool TryParse(string presented, string prefix, out Guid id, out string secret)
    {
        var parts = presented.Trim().Split('.');
        secret = parts.Length == 3 ? parts[2] : "";
        id = Guid.Empty;
        return parts.Length == 3 && parts[0] == prefix && Guid.TryParseExact(parts[1], "N", out id) && secret.Length >= 32;
    }

    private static string NewSecret() => Base64Url(RandomNumberGenerator.GetBytes(32));

    // The secrets are 256 random bits: a plain SHA-256 is enough, no password hashing needed.
    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static bool SameHash(string storedHash, string secret) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(storedHash), Encoding.ASCII.GetBytes(Hash(secret)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
