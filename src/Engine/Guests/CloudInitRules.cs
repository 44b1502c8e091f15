using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Paddock.Engine.Guests;

/// <summary>
/// What a <see cref="CloudInitConfig"/> may hold. Each check throws an <see cref="InvalidCloudInitException"/> naming
/// the field, the line of its YAML when it has one, and the problem; none of them touches a file or the network.
/// </summary>
public static partial class CloudInitRules
{
    /// <summary>The most SSH keys one config may hold.</summary>
    public const int MaxSshKeys = 20;

    /// <summary>The most bytes (UTF-8) of one SSH key line: an RSA-16384 key with a long comment fits.</summary>
    public const int MaxSshKeyBytes = 16 * 1024;

    /// <summary>The most bytes (UTF-8) of user-data or network-config.</summary>
    public const int MaxYamlBytes = 64 * 1024;

    /// <summary>The key types OpenSSH accepts in authorized_keys that are not deprecated (no ssh-dss).</summary>
    public static readonly IReadOnlyList<string> SshKeyTypes =
    [
        "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ];

    // Debian's base-passwd users and the names packages create for themselves: a login user by one of these names
    // would take over a system account.
    private static readonly HashSet<string> ReservedUserNames = new(StringComparer.Ordinal)
    {
        "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
        "backup", "list", "irc", "gnats", "nobody", "messagebus", "sshd", "_apt",
    };

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Runs every check on <paramref name="config"/>.</summary>
    public static void Check(CloudInitConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        CheckHostname(config.Hostname);
        if (config.UserName is not null)
        {
            CheckUserName(config.UserName);
        }
        CheckSshKeys(config.SshKeys);
        if (config.PasswordHash is not null)
        {
            // cloud-init sets a password for a user it creates; the image's default user is not ours to change.
            if (config.UserName is null)
            {
                throw new InvalidCloudInitException("password", null, "A password needs a user name to set it for.");
            }
            CheckPasswordHash(config.PasswordHash);
        }
        if (config.UserData is not null)
        {
            CheckUserData(config.UserData);
        }
        if (config.NetworkConfig is not null)
        {
            CheckNetworkConfig(config.NetworkConfig);
        }
        if (config.Revision < 1)
        {
            throw new InvalidCloudInitException("revision", null, "The revision must be 1 or more.");
        }
    }

    /// <summary>
    /// An RFC 1123 host name: dot-separated labels of 1 to 63 letters, digits and hyphens, neither starting nor
    /// ending with a hyphen, 253 characters in all. Lower case is required rather than made: the name the owner
    /// sees is then the one the guest gets, and the portal can lower-case what is typed before it builds the config.
    /// </summary>
    public static void CheckHostname(string hostname)
    {
        if (string.IsNullOrEmpty(hostname))
        {
            throw Hostname("A hostname is required.");
        }
        if (hostname.Length > 253)
        {
            throw Hostname("The hostname is longer than 253 characters.");
        }
        if (hostname.Any(char.IsAsciiLetterUpper))
        {
            throw Hostname("The hostname must be in lower case.");
        }
        if (!hostname.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.'))
        {
            throw Hostname("The hostname may hold only letters, digits, hyphens and dots.");
        }
        foreach (var label in hostname.Split('.'))
        {
            if (label.Length is 0 or > 63)
            {
                throw Hostname("Each part of the hostname between dots must be 1 to 63 characters long.");
            }
            if (label.StartsWith('-') || label.EndsWith('-'))
            {
                throw Hostname("A part of the hostname may not start or end with a hyphen.");
            }
        }
    }

    /// <summary>A user name as Debian's adduser accepts it (<c>^[a-z_][a-z0-9_-]{0,31}$</c>), and not a system account's.</summary>
    public static void CheckUserName(string userName)
    {
        if (!UserNamePattern().IsMatch(userName))
        {
            throw new InvalidCloudInitException("user", null,
                "The user name must start with a lower-case letter or an underscore and hold at most 32 lower-case letters, digits, underscores and hyphens.");
        }
        if (ReservedUserNames.Contains(userName) || userName.StartsWith("systemd-", StringComparison.Ordinal))
        {
            throw new InvalidCloudInitException("user", null, $"The user name '{userName}' belongs to a system account.");
        }
    }

    /// <summary>
    /// At most <see cref="MaxSshKeys"/> OpenSSH public keys, each one line of <c>type base64 [comment]</c> and at most
    /// <see cref="MaxSshKeyBytes"/> bytes, with no control characters, of a type in <see cref="SshKeyTypes"/>, whose
    /// key data decodes and names that same type (a key pasted with the wrong type in front is refused).
    /// </summary>
    public static void CheckSshKeys(IReadOnlyList<string> sshKeys)
    {
        ArgumentNullException.ThrowIfNull(sshKeys);
        if (sshKeys.Count > MaxSshKeys)
        {
            throw new InvalidCloudInitException("sshKeys", null, $"At most {MaxSshKeys} SSH keys are allowed; there are {sshKeys.Count}.");
        }
        for (var i = 0; i < sshKeys.Count; i++)
        {
            var problem = SshKeyProblem(sshKeys[i]);
            if (problem is not null)
            {
                throw new InvalidCloudInitException($"sshKeys[{i}]", null, $"SSH key {i + 1}: {problem}");
            }
        }
    }

    /// <summary>A SHA-512 crypt string as <see cref="Sha512Crypt"/> and <c>openssl passwd -6</c> write it; a clear password is refused.</summary>
    public static void CheckPasswordHash(string passwordHash)
    {
        if (!PasswordHashPattern().IsMatch(passwordHash))
        {
            throw new InvalidCloudInitException("password", null,
                "The password must be given as a SHA-512 crypt hash ($6$salt$hash), never in clear.");
        }
    }

    /// <summary>
    /// The owner's user-data: at most <see cref="MaxYamlBytes"/>, a first line of exactly <c>#cloud-config</c>
    /// (trailing blanks allowed), then one YAML document whose root is a mapping, or nothing at all. Syntax errors,
    /// duplicate keys and excessive nesting or alias expansion are refused with their line.
    /// </summary>
    public static void CheckUserData(string userData)
    {
        const string field = "userData", label = "User-data";
        CheckSize(userData, field, label);
        var firstLineEnd = userData.IndexOf('\n');
        var firstLine = firstLineEnd < 0 ? userData : userData[..firstLineEnd];
        if (firstLine.TrimEnd() != "#cloud-config")
        {
            throw CloudInitYaml.Refusal(field, label, 1, "the first line must be exactly '#cloud-config'.");
        }
        var root = CloudInitYaml.Load(userData, field, label);
        if (!CloudInitYaml.IsEmpty(root) && root is not YamlMappingNode)
        {
            throw CloudInitYaml.Refusal(field, label, root!.Start.Line, "the document must be a mapping of keys (key: value), not a list or a single value.");
        }
    }

    /// <summary>
    /// The owner's network-config: at most <see cref="MaxYamlBytes"/>, one YAML mapping with <c>version: 2</c> at its
    /// root or under <c>network:</c> (cloud-init reads both), refused with the line and reason otherwise.
    /// </summary>
    public static void CheckNetworkConfig(string networkConfig)
    {
        const string field = "networkConfig", label = "Network-config";
        CheckSize(networkConfig, field, label);
        var root = CloudInitYaml.Load(networkConfig, field, label);
        if (root is not YamlMappingNode top)
        {
            throw CloudInitYaml.Refusal(field, label, root?.Start.Line ?? 1, "must be a mapping with 'version: 2' at the top or under 'network:'.");
        }
        var versioned = top;
        if (top.Children.TryGetValue(new YamlScalarNode("network"), out var network))
        {
            versioned = network as YamlMappingNode
                ?? throw CloudInitYaml.Refusal(field, label, network.Start.Line, "'network:' must be a mapping.");
        }
        if (!versioned.Children.TryGetValue(new YamlScalarNode("version"), out var version))
        {
            throw CloudInitYaml.Refusal(field, label, versioned.Start.Line, "'version: 2' is missing (at the top, or under 'network:').");
        }
        if (version is not YamlScalarNode { Value: "2", Style: ScalarStyle.Plain or ScalarStyle.Any })
        {
            throw CloudInitYaml.Refusal(field, label, version.Start.Line, "the version must be 2 (the Netplan-style format); version 1 is not accepted.");
        }
    }

    private static string? SshKeyProblem(string? key)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            return "it is empty.";
        }
        if (key.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029'))
        {
            return "it must be a single line with no control characters.";
        }
        if (Utf8Length(key) is not { } bytes)
        {
            return "it is not valid Unicode text.";
        }
        if (bytes > MaxSshKeyBytes)
        {
            return $"it is larger than {MaxSshKeyBytes / 1024} KiB.";
        }
        var parts = key.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2)
        {
            return "it must read 'type key [comment]', e.g. 'ssh-ed25519 AAAAC3Nz... me@laptop'.";
        }
        if (!SshKeyTypes.Contains(parts[0]))
        {
            return $"the type must be one of {string.Join(", ", SshKeyTypes)}.";
        }
        var blob = new byte[parts[1].Length * 3 / 4 + 3];
        if (!Convert.TryFromBase64String(parts[1], blob, out var length))
        {
            return "the key data is not valid base64.";
        }
        return NamesType(blob.AsSpan(0, length), parts[0]) ? null : $"the key data is not a {parts[0]} key.";
    }

    /// <summary>Whether an SSH public key blob starts with the string <paramref name="type"/> (RFC 4253 section 6.6).</summary>
    private static bool NamesType(ReadOnlySpan<byte> blob, string type)
    {
        if (blob.Length < 4)
        {
            return false;
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(blob);
        return length <= blob.Length - 4 && blob.Slice(4, (int)length).SequenceEqual(Encoding.ASCII.GetBytes(type));
    }

    private static void CheckSize(string text, string field, string label)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Utf8Length(text) is not { } bytes)
        {
            throw new InvalidCloudInitException(field, null, $"{label} is not valid Unicode text.");
        }
        if (bytes > MaxYamlBytes)
        {
            throw new InvalidCloudInitException(field, null, $"{label} is larger than {MaxYamlBytes / 1024} KiB ({bytes} bytes).");
        }
    }

    /// <summary>The UTF-8 length of <paramref name="text"/>, or null when it holds a lone surrogate and has none.</summary>
    private static int? Utf8Length(string text)
    {
        try
        {
            return StrictUtf8.GetByteCount(text);
        }
        catch (EncoderFallbackException)
        {
            return null;
        }
    }

    private static InvalidCloudInitException Hostname(string problem) => new("hostname", null, problem);

    // \z, not $: $ also matches before a final line break, which would let "alice\n" through.
    [GeneratedRegex(@"\A[a-z_][a-z0-9_-]{0,31}\z")]
    private static partial Regex UserNamePattern();

    [GeneratedRegex(@"\A\$6\$(rounds=[1-9][0-9]{0,8}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}\z")]
    private static partial Regex PasswordHashPattern();
}
