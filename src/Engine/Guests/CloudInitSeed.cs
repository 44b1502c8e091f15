using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;

namespace Paddock.Engine.Guests;

/// <summary>
/// The files of a cloud-init NoCloud seed (https://cloudinit.readthedocs.io/en/latest/reference/datasources/nocloud.html)
/// for a <see cref="CloudInitConfig"/>: <c>meta-data</c>, <c>user-data</c> and, when there is one, <c>network-config</c>.
/// </summary>
/// <remarks>
/// The same VM and config give the same bytes every time: the seed is built again on the destination of a live
/// migration and must match the one the guest booted from. All text is UTF-8 without a byte order mark, with LF
/// line endings. Every value the owner typed is written as a double-quoted YAML scalar, so none can add keys.
/// </remarks>
public static class CloudInitSeed
{
    /// <summary>The name of the seed's file of instance metadata.</summary>
    public const string MetaDataFile = "meta-data";

    /// <summary>The name of the seed's file of user-data: Paddock's cloud-config, or a multipart message with the owner's.</summary>
    public const string UserDataFile = "user-data";

    /// <summary>The name of the seed's network-config file, present when the owner gave one.</summary>
    public const string NetworkConfigFile = "network-config";

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The seed's files by name, in ordinal order of their names. Checks <paramref name="config"/> first
    /// (<see cref="CloudInitRules.Check"/>).
    /// </summary>
    /// <remarks>
    /// With the owner's own <see cref="CloudInitConfig.UserData"/>, <c>user-data</c> is a MIME multipart message of
    /// Paddock's part then the owner's. cloud-init's default merge then applies: for a key both parts set, the
    /// owner's value wins and replaces Paddock's whole (a <c>users:</c> of the owner's replaces Paddock's user).
    /// The owner's user-data and network-config are written as given, line endings made LF.
    /// </remarks>
    /// <exception cref="InvalidCloudInitException">The config breaks a rule.</exception>
    public static IReadOnlyDictionary<string, byte[]> Files(Guid vmId, CloudInitConfig config)
    {
        CloudInitRules.Check(config);
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [MetaDataFile] = Utf8.GetBytes(MetaDataText(vmId, config)),
            [UserDataFile] = Utf8.GetBytes(config.UserData is null
                ? PaddockPart(config)
                : Multipart(PaddockPart(config), Lf(config.UserData))),
        };
        if (config.NetworkConfig is not null)
        {
            files[NetworkConfigFile] = Utf8.GetBytes(Lf(config.NetworkConfig));
        }
        return new ReadOnlyDictionary<string, byte[]>(files);
    }

    /// <summary>The instance-id: a new one for each revision, so cloud-init runs its once-per-instance modules again.</summary>
    public static string InstanceId(Guid vmId, int revision) =>
        string.Create(CultureInfo.InvariantCulture, $"paddock-{vmId:D}-{revision}");

    private static string MetaDataText(Guid vmId, CloudInitConfig config) =>
        $"instance-id: {CloudInitYaml.Quote(InstanceId(vmId, config.Revision))}\n" +
        $"local-hostname: {CloudInitYaml.Quote(config.Hostname)}\n";

    /// <summary>Paddock's own cloud-config: the hostname and the owner's login user with their keys and password.</summary>
    private static string PaddockPart(CloudInitConfig config)
    {
        var yaml = new StringBuilder()
            .Append("#cloud-config\n")
            .Append("hostname: ").Append(CloudInitYaml.Quote(config.Hostname)).Append('\n')
            .Append("preserve_hostname: false\n");
        if (config.UserName is not null)
        {
            // Listing only this user leaves out the image's default user ("default" is not in the list).
            yaml.Append("users:\n")
                .Append("  - name: ").Append(CloudInitYaml.Quote(config.UserName)).Append('\n')
                .Append("    groups: [sudo]\n")
                .Append("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n")
                .Append("    shell: /bin/bash\n")
                .Append("    lock_passwd: ").Append(config.PasswordHash is null ? "true" : "false").Append('\n');
            if (config.PasswordHash is not null)
            {
                yaml.Append("    passwd: ").Append(CloudInitYaml.Quote(config.PasswordHash)).Append('\n');
            }
            AppendKeys(yaml, config.SshKeys, "    ");
        }
        else
        {
            // Top-level keys go to the image's default user.
            AppendKeys(yaml, config.SshKeys, "");
        }
        if (config.PasswordHash is not null)
        {
            yaml.Append("ssh_pwauth: true\n");
        }
        return yaml.Append("chpasswd:\n  expire: false\n").ToString();
    }

    private static void AppendKeys(StringBuilder yaml, IReadOnlyList<string> keys, string indent)
    {
        if (keys.Count == 0)
        {
            return;
        }
        yaml.Append(indent).Append("ssh_authorized_keys:\n");
        foreach (var key in keys)
        {
            yaml.Append(indent).Append("  - ").Append(CloudInitYaml.Quote(key)).Append('\n');
        }
    }

    /// <summary>
    /// A multipart/mixed message of the two cloud-config parts, Paddock's first. Each part is base64: cloud-init reads
    /// an 8bit part through Python's email package, which cannot give back its non-ASCII bytes.
    /// </summary>
    private static string Multipart(string paddockPart, string ownerPart)
    {
        var parts = new[] { (Name: "paddock.cfg", Body: Base64Lines(paddockPart)), (Name: "user-data.cfg", Body: Base64Lines(ownerPart)) };
        var boundary = Boundary(parts.Select(part => part.Body).ToArray());
        var message = new StringBuilder()
            .Append("Content-Type: multipart/mixed; boundary=\"").Append(boundary).Append("\"\n")
            .Append("MIME-Version: 1.0\n")
            .Append('\n');
        foreach (var (name, body) in parts)
        {
            message.Append("--").Append(boundary).Append('\n')
                .Append("Content-Type: text/cloud-config; charset=\"utf-8\"\n")
                .Append("MIME-Version: 1.0\n")
                .Append("Content-Transfer-Encoding: base64\n")
                .Append("Content-Disposition: attachment; filename=\"").Append(name).Append("\"\n")
                .Append('\n')
                .Append(body);
        }
        return message.Append("--").Append(boundary).Append("--\n").ToString();
    }

    /// <summary>
    /// The first of <c>==paddock-0==</c>, <c>==paddock-1==</c>, ... that no part holds. Base64 has no '-', so the
    /// first always fits today; the check keeps that true should a part ever be written otherwise.
    /// </summary>
    internal static string Boundary(IReadOnlyList<string> parts)
    {
        for (var attempt = 0; ; attempt++)
        {
            var boundary = string.Create(CultureInfo.InvariantCulture, $"==paddock-{attempt}==");
            if (!parts.Any(part => part.Contains(boundary, StringComparison.Ordinal)))
            {
                return boundary;
            }
        }
    }

    /// <summary>The UTF-8 of <paramref name="text"/> in base64 lines of 76 characters (RFC 2045 section 6.8).</summary>
    private static string Base64Lines(string text)
    {
        var encoded = Convert.ToBase64String(Utf8.GetBytes(text));
        var lines = new StringBuilder(encoded.Length + encoded.Length / 76 + 1);
        for (var start = 0; start < encoded.Length; start += 76)
        {
            lines.Append(encoded, start, Math.Min(76, encoded.Length - start)).Append('\n');
        }
        return lines.ToString();
    }

    // Only CR LF and CR: string.ReplaceLineEndings would also turn form feeds and U+2028 into line feeds.
    private static string Lf(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
}
