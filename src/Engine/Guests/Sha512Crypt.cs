using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Paddock.Engine.Guests;

/// <summary>
/// glibc's SHA-512 crypt (<c>$6$</c>), as Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specifies it
/// (https://www.akkadia.org/drepper/SHA-crypt.txt): the password hash that <c>/etc/shadow</c>, cloud-init's
/// <c>passwd</c> and <c>openssl passwd -6</c> use, so the portal never has to keep or send a clear password.
/// </summary>
public static class Sha512Crypt
{
    /// <summary>The rounds the spec uses when none are given; the hash then has no <c>rounds=</c> part.</summary>
    public const int DefaultRounds = 5000;

    /// <summary>The fewest rounds the spec allows; fewer are raised to this.</summary>
    public const int MinRounds = 1000;

    /// <summary>The most rounds the spec allows; more are lowered to this.</summary>
    public const int MaxRounds = 999_999_999;

    /// <summary>The characters of salts and of the hash's own base-64 alphabet, in the alphabet's order.</summary>
    public const string Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private const int MaxSaltLength = 16;

    // The order in which the spec's step 22 writes the digest's bytes, three at a time (the last is byte 63 alone).
    private static readonly byte[] OutputOrder =
    [
        0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29,
        9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17,
        38, 18, 39, 60, 40, 61, 19, 62, 20, 41,
    ];

    /// <summary>
    /// The crypt string of <paramref name="password"/> (UTF-8) with <paramref name="salt"/>, of which only the first
    /// 16 characters count. Rounds outside 1,000 to 999,999,999 are brought inside, as the spec says; anything but
    /// 5,000 is written into the result as <c>rounds=N$</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The salt is empty or holds a character outside <see cref="Alphabet"/>.</exception>
    public static string Hash(string password, string salt, int rounds = DefaultRounds)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentException.ThrowIfNullOrEmpty(salt);
        if (!salt.All(c => Alphabet.Contains(c, StringComparison.Ordinal)))
        {
            throw new ArgumentException($"A salt may hold only the characters {Alphabet}.", nameof(salt));
        }
        var explicitRounds = rounds != DefaultRounds;
        rounds = Math.Clamp(rounds, MinRounds, MaxRounds);
        var saltBytes = Encoding.ASCII.GetBytes(salt[..Math.Min(salt.Length, MaxSaltLength)]);
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        try
        {
            var digest = Digest(passwordBytes, saltBytes, rounds);
            var prefix = explicitRounds ? $"$6$rounds={rounds.ToString(CultureInfo.InvariantCulture)}$" : "$6$";
            return $"{prefix}{Encoding.ASCII.GetString(saltBytes)}${Encode(digest)}";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passwordBytes);
        }
    }

    /// <summary>The crypt string of <paramref name="password"/> with 16 salt characters from a cryptographic random source.</summary>
    public static string HashWithRandomSalt(string password) =>
        Hash(password, RandomNumberGenerator.GetString(Alphabet, MaxSaltLength));

    /// <summary>Steps 1 to 21 of the spec: the final 64-byte digest C.</summary>
    private static byte[] Digest(byte[] password, byte[] salt, int rounds)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);

        // Steps 4-8: digest B of password, salt, password.
        sha.AppendData(password);
        sha.AppendData(salt);
        sha.AppendData(password);
        var b = sha.GetHashAndReset();

        // Steps 1-3 and 9-12: digest A.
        sha.AppendData(password);
        sha.AppendData(salt);
        AppendRepeated(sha, b, password.Length);
        for (var length = password.Length; length > 0; length >>= 1)
        {
            sha.AppendData((length & 1) != 0 ? b : password);
        }
        var a = sha.GetHashAndReset();

        // Steps 13-16: sequence P, from digest DP of the password once per byte of it.
        for (var i = 0; i < password.Length; i++)
        {
            sha.AppendData(password);
        }
        var p = Repeat(sha.GetHashAndReset(), password.Length);

        // Steps 17-20: sequence S, from digest DS of the salt 16 + A[0] times.
        for (var i = 0; i < 16 + a[0]; i++)
        {
            sha.AppendData(salt);
        }
        var s = Repeat(sha.GetHashAndReset(), salt.Length);

        // Step 21: the rounds.
        var c = a;
        for (var round = 0; round < rounds; round++)
        {
            sha.AppendData(round % 2 != 0 ? p : c);
            if (round % 3 != 0)
            {
                sha.AppendData(s);
            }
            if (round % 7 != 0)
            {
                sha.AppendData(p);
            }
            sha.AppendData(round % 2 != 0 ? c : p);
            c = sha.GetHashAndReset();
        }
        CryptographicOperations.ZeroMemory(p);
        return c;
    }

    private static void AppendRepeated(IncrementalHash sha, byte[] block, int length)
    {
        for (; length > block.Length; length -= block.Length)
        {
            sha.AppendData(block);
        }
        sha.AppendData(block, 0, length);
    }

    /// <summary><paramref name="length"/> bytes of <paramref name="block"/> repeated.</summary>
    private static byte[] Repeat(byte[] block, int length)
    {
        var result = new byte[length];
        for (var i = 0; i < length; i++)
        {
            result[i] = block[i % block.Length];
        }
        return result;
    }

    /// <summary>Step 22: the digest in the spec's base-64, least significant 6 bits first, bytes in <see cref="OutputOrder"/>.</summary>
    private static string Encode(byte[] digest)
    {
        var text = new StringBuilder(86);
        for (var i = 0; i + 2 < OutputOrder.Length; i += 3)
        {
            Append(text, (digest[OutputOrder[i]] << 16) | (digest[OutputOrder[i + 1]] << 8) | digest[OutputOrder[i + 2]], 4);
        }
        Append(text, digest[63], 2);
        return text.ToString();
    }

    private static void Append(StringBuilder text, int bits, int characters)
    {
        for (var i = 0; i < characters; i++, bits >>= 6)
        {
            text.Append(Alphabet[bits & 0x3f]);
        }
    }
}
