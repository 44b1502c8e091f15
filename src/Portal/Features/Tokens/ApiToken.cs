using System.Security.Cryptography;

namespace Paddock.Portal.Features.Tokens;

public enum TokenScope
{
    /// <summary>GET and HEAD only: it sees what its owner sees and changes nothing.</summary>
    ReadOnly,

    /// <summary>Everything its owner may do through the API.</summary>
    Everything,
}

/// <summary>
/// A personal API token. Only the SHA-256 of its secret is kept: the token itself is shown once,
/// when it is made. Revoking deletes it; the audit keeps the story.
/// </summary>
public sealed class ApiToken
{
    public Guid Id { get; set; }

    public Guid OwnerId { get; set; }

    public string OwnerName { get; set; } = "";

    public string Name { get; set; } = "";

    public TokenScope Scope { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>SHA-256 of the secret part, lower-case hex.</summary>
    public string SecretHash { get; set; } = "";

    public DateTimeOffset? LastUsedAt { get; set; }

    public string? LastUsedFrom { get; set; }
}

/// <summary>
/// The text of a token: <c>pdk_</c>, the token's id (32 hex digits) and a 256-bit secret (64 hex
/// digits). The prefix lets secret scanners and people recognise it; the id finds the record
/// without a search; the secret is compared by its hash, in constant time.
/// </summary>
public static class TokenText
{
    public const string Prefix = "pdk_";
    public const int Length = 4 + 32 + 64;

    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    public static (string Text, string SecretHash) New(Guid id)
    {
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        return ($"{Prefix}{id:N}{secret}", Hash(secret));
    }

    /// <summary>The id and secret of a token's text; null for anything that is not one.</summary>
    public static (Guid Id, string Secret)? Parse(string text) =>
        text.Length == Length && text.StartsWith(Prefix, StringComparison.Ordinal) && !text.AsSpan(Prefix.Length).ContainsAnyExcept(LowerHex)
        && Guid.TryParseExact(text.AsSpan(Prefix.Length, 32), "N", out var id)
            ? (id, text[(Prefix.Length + 32)..])
            : null;

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(secret)));

    public static bool Matches(string secret, string secretHash) =>
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(Hash(secret)), System.Text.Encoding.ASCII.GetBytes(secretHash));
}
