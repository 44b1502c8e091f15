using System.Text;
using Paddock.Engine.Guests;

namespace Paddock.Portal.Features.Vms;

/// <summary>
/// How a new VM's guest is set up through cloud-init, as the create dialog and the API take it: a
/// hostname (the VM's name made into one when empty), a login user with SSH public keys and an
/// optional password, and the owner's own user-data (<c>#cloud-config</c>) and network-config
/// (version 2). Only for a template whose guests read cloud-init. <c>SshKeyIds</c> picks keys the
/// caller keeps in their profile (SSH keys page), added to those pasted.
/// </summary>
/// <remarks>
/// The password is hashed (SHA-512 crypt) here and never kept or sent in clear; a hash
/// (<c>$6$…</c>, as <c>mkpasswd -m sha-512</c> makes) may be given instead.
/// </remarks>
public sealed record GuestSetup(
    string? Hostname = null, string? User = null, IReadOnlyList<string>? SshKeys = null, string? Password = null,
    string? UserData = null, string? NetworkConfig = null, string? PasswordHash = null, IReadOnlyList<Guid>? SshKeyIds = null)
{
    /// <summary>The same setup with the password replaced by its hash, for keeping (a request waiting for approval).</summary>
    public GuestSetup Hashed() => Password is null ? this : this with { Password = null, PasswordHash = Sha512Crypt.HashWithRandomSalt(Password) };

    /// <summary>The shortest password cloud-init is given.</summary>
    public const int MinPasswordLength = 8;

    public const int MaxPasswordLength = 256;

    /// <summary>The field names a refusal uses, as the API's request body spells them.</summary>
    public static string FieldOf(string engineField) => $"guest.{engineField}";

    /// <summary>
    /// The cloud-init setup this asks for, checked (<see cref="CloudInitRules"/>), for a VM named
    /// <paramref name="vmName"/>; a <see cref="RefusedException"/> names the field at fault and,
    /// for YAML, the line.
    /// </summary>
    public CloudInitConfig ToConfig(string vmName, IReadOnlyList<string>? profileKeys = null)
    {
        if (Password is { } password && (password.Length is < MinPasswordLength or > MaxPasswordLength))
        {
            throw new RefusedException($"Password: {MinPasswordLength} to {MaxPasswordLength} characters.", FieldOf("password"));
        }

        var config = new CloudInitConfig
        {
            Hostname = string.IsNullOrWhiteSpace(Hostname) ? HostnameFrom(vmName) : Hostname.Trim().ToLowerInvariant(),
            UserName = string.IsNullOrWhiteSpace(User) ? null : User.Trim(),
            SshKeys = [.. (SshKeys ?? []).Concat(profileKeys ?? []).Select(k => k.Trim()).Where(k => k.Length > 0).Distinct()],
            PasswordHash = Password is null ? NullIfBlank(PasswordHash) : Sha512Crypt.HashWithRandomSalt(Password),
            UserData = string.IsNullOrWhiteSpace(UserData) ? null : UserData,
            NetworkConfig = string.IsNullOrWhiteSpace(NetworkConfig) ? null : NetworkConfig,
        };
        try
        {
            CloudInitRules.Check(config);
        }
        catch (InvalidCloudInitException e)
        {
            throw new RefusedException(e.Message, FieldOf(e.Field));
        }

        return config;
    }

    private static string? NullIfBlank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    /// <summary>Splits the keys an owner pastes, one per line.</summary>
    public static IReadOnlyList<string> KeysFrom(string? text) =>
        [.. (text ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)];

    /// <summary>A hostname from a VM's name: lower case, letters and digits kept, anything else a hyphen, at most 63 characters.</summary>
    public static string HostnameFrom(string vmName)
    {
        var name = new StringBuilder();
        foreach (var c in vmName.Trim().ToLowerInvariant())
        {
            name.Append(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) ? c : '-');
        }

        var hostname = name.ToString().Trim('-');
        hostname = hostname.Length > 63 ? hostname[..63].TrimEnd('-') : hostname;
        return hostname.Length == 0 ? "vm" : hostname;
    }
}
