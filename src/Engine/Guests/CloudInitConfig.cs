using System.Text;

namespace Paddock.Engine.Guests;

/// <summary>
/// What a VM's cloud-init NoCloud seed should say: its hostname, an optional login user with SSH keys and a
/// password hash, and optional user-data and network-config of the owner's own. <see cref="CloudInitRules"/>
/// decides whether it is acceptable; <see cref="CloudInitSeed"/> turns it into the seed's files.
/// </summary>
/// <remarks>
/// <see cref="ToString"/> never prints <see cref="PasswordHash"/>, <see cref="UserData"/> or
/// <see cref="NetworkConfig"/>, only whether they are there and their size: they may hold secrets, and records get
/// logged.
/// </remarks>
public sealed record CloudInitConfig
{
    /// <summary>The guest's hostname: RFC 1123 labels in lower case (see <see cref="CloudInitRules.CheckHostname"/>).</summary>
    public required string Hostname { get; init; }

    /// <summary>The login user to create, with passwordless sudo; null leaves the image's default user alone.</summary>
    public string? UserName { get; init; }

    /// <summary>OpenSSH public keys, one line each (<c>type base64 [comment]</c>); for <see cref="UserName"/>, or the image's default user when there is none.</summary>
    public IReadOnlyList<string> SshKeys { get; init; } = [];

    /// <summary>The user's password as a SHA-512 crypt string (<c>$6$...</c>, see <see cref="Sha512Crypt"/>), never in clear; needs a <see cref="UserName"/>.</summary>
    public string? PasswordHash { get; init; }

    /// <summary>The owner's own user-data, a YAML mapping starting with <c>#cloud-config</c>; its keys win over Paddock's.</summary>
    public string? UserData { get; init; }

    /// <summary>The owner's network-config, version 2 YAML, written to the seed as given.</summary>
    public string? NetworkConfig { get; init; }

    /// <summary>Bumped by each edit: it is part of the instance-id, so a new revision makes cloud-init run again.</summary>
    public int Revision { get; init; } = 1;

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Hostname = ").Append(Hostname)
            .Append(", UserName = ").Append(UserName)
            .Append(", SshKeys = <").Append(SshKeys.Count).Append(SshKeys.Count == 1 ? " key>" : " keys>")
            .Append(", PasswordHash = ").Append(PasswordHash is null ? "" : "<set>")
            .Append(", UserData = ").Append(Size(UserData))
            .Append(", NetworkConfig = ").Append(Size(NetworkConfig))
            .Append(", Revision = ").Append(Revision);
        return true;
    }

    private static string Size(string? text) => text is null ? "" : $"<{Encoding.UTF8.GetByteCount(text)} bytes>";
}
