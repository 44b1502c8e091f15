namespace Paddock.Portal.Features.SshKeys;

/// <summary>
/// An SSH public key a person keeps in their profile, to pick when they create a VM whose guest
/// reads cloud-init. <see cref="Fingerprint"/> is OpenSSH's (<c>SHA256:…</c>, as <c>ssh-keygen -l</c> prints it).
/// </summary>
public sealed class SshKey
{
    public Guid Id { get; set; }

    public Guid OwnerId { get; set; }

    public string Name { get; set; } = "";

    /// <summary>One line: <c>type base64 [comment]</c>.</summary>
    public string PublicKey { get; set; } = "";

    public string Fingerprint { get; set; } = "";

    public DateTimeOffset AddedAt { get; set; }
}

/// <summary>A key as its owner sees it (and the API shows it).</summary>
public sealed record SshKeyView(Guid Id, string Name, string Type, string Fingerprint, string PublicKey, DateTimeOffset AddedAt)
{
    public static SshKeyView Of(SshKey key) => new(key.Id, key.Name, key.PublicKey.Split(' ')[0], key.Fingerprint, key.PublicKey, key.AddedAt);
}

/// <summary>A key was added or deleted: the profile's key list loads again.</summary>
public sealed record SshKeysChanged(Guid OwnerId);

public sealed class SshKeyNotFoundException() : Exception("No such SSH key.");
