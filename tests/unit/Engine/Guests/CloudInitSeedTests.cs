using System.Text;
using Paddock.Engine.Guests;
using YamlDotNet.RepresentationModel;

namespace Paddock.Unit.Engine.Guests;

public sealed class CloudInitSeedTests
{
    private static readonly Guid VmId = Guid.Parse("0b5e7a52-3c1d-4f7e-9a62-5d0c8e4f1a23");
    private static readonly string PasswordHash = Sha512Crypt.Hash("secret", "saltstring");

    private static readonly CloudInitConfig Config = new()
    {
        Hostname = "web-1",
        UserName = "ann",
        SshKeys = [CloudInitKeys.Ed25519, CloudInitKeys.Ecdsa384],
        Revision = 3,
    };

    private static string Text(IReadOnlyDictionary<string, byte[]> files, string name) => Encoding.UTF8.GetString(files[name]);

    private static YamlMappingNode Yaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static string[] Keys(YamlMappingNode mapping) => mapping.Children.Keys.Select(key => ((YamlScalarNode)key).Value!).ToArray();

    [Fact]
    public void Meta_data_names_the_instance_by_vm_and_revision_and_gives_the_hostname()
    {
        var files = CloudInitSeed.Files(VmId, Config);

        Assert.Equal(
            "instance-id: \"paddock-0b5e7a52-3c1d-4f7e-9a62-5d0c8e4f1a23-3\"\nlocal-hostname: \"web-1\"\n",
            Text(files, "meta-data"));
        Assert.NotEqual(files["meta-data"], CloudInitSeed.Files(VmId, Config with { Revision = 4 })["meta-data"]);
    }

    [Fact]
    public void User_data_creates_the_user_with_sudo_keys_and_a_locked_password_when_none_is_given()
    {
        Assert.Equal(
            $"""
            #cloud-config
            hostname: "web-1"
            preserve_hostname: false
            users:
              - name: "ann"
                groups: [sudo]
                sudo: "ALL=(ALL) NOPASSWD:ALL"
                shell: /bin/bash
                lock_passwd: true
                ssh_authorized_keys:
                  - "{CloudInitKeys.Ed25519}"
                  - "{CloudInitKeys.Ecdsa384}"
            chpasswd:
              expire: false

            """.ReplaceLineEndings("\n"),
            Text(CloudInitSeed.Files(VmId, Config), "user-data"));
    }

    [Fact]
    public void A_password_hash_unlocks_the_password_and_allows_password_logins_over_ssh()
    {
        var userData = Yaml(Text(CloudInitSeed.Files(VmId, Config with { PasswordHash = PasswordHash }), "user-data"));

        var user = (YamlMappingNode)((YamlSequenceNode)userData["users"]).Children.Single();
        Assert.Equal("false", user["lock_passwd"].ToString());
        Assert.Equal(PasswordHash, user["passwd"].ToString());
        Assert.Equal("true", userData["ssh_pwauth"].ToString());
        Assert.Equal(["hostname", "preserve_hostname", "users", "ssh_pwauth", "chpasswd"], Keys(userData));
    }

    [Fact]
    public void Without_a_user_the_keys_go_to_the_images_default_user()
    {
        var userData = Yaml(Text(CloudInitSeed.Files(VmId, Config with { UserName = null }), "user-data"));

        Assert.Equal(["hostname", "preserve_hostname", "ssh_authorized_keys", "chpasswd"], Keys(userData));
        Assert.Equal([CloudInitKeys.Ed25519, CloudInitKeys.Ecdsa384],
            ((YamlSequenceNode)userData["ssh_authorized_keys"]).Children.Select(key => key.ToString()));
    }

    [Fact]
    public void A_key_comment_full_of_yaml_syntax_stays_one_string_and_adds_no_keys()
    {
        string[] comments =
        [
            "evil\", \"sudo\": \"ALL\"} #",
            "\\\" ]\nruncmd: [reboot]",
            "a: b # c",
            "' & * ! | > % @ ` { } [ ] , ? - ---",
        ];
        foreach (var comment in comments.Where(c => !c.Contains('\n', StringComparison.Ordinal)))
        {
            var key = CloudInitKeys.Ed25519 + " " + comment;
            var userData = Yaml(Text(CloudInitSeed.Files(VmId, Config with { SshKeys = [key] }), "user-data"));

            Assert.Equal(["hostname", "preserve_hostname", "users", "chpasswd"], Keys(userData));
            var user = (YamlMappingNode)((YamlSequenceNode)userData["users"]).Children.Single();
            Assert.Equal(["name", "groups", "sudo", "shell", "lock_passwd", "ssh_authorized_keys"], Keys(user));
            Assert.Equal(key, ((YamlSequenceNode)user["ssh_authorized_keys"]).Children.Single().ToString());
        }
        // A line break cannot get past the rules to the writer at all.
        Assert.Throws<InvalidCloudInitException>(() =>
            CloudInitSeed.Files(VmId, Config with { SshKeys = [CloudInitKeys.Ed25519 + " " + comments[1]] }));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("quote \" and backslash \\ and \\\" both")]
    [InlineData("line\nbreak\r\nand\ttab")]
    [InlineData("\"\nruncmd: [reboot]\n#")]
    [InlineData("nel \u0085 ls \u2028 ps \u2029 bom \ufeff nul \0 del \u007f")]
    [InlineData("ünïcödé ✓ 😀")]
    [InlineData("# not a comment")]
    [InlineData("")]
    public void A_quoted_value_reads_back_unchanged_as_the_one_value_of_its_key(string value)
    {
        var mapping = Yaml($"key: {CloudInitYaml.Quote(value)}\n");

        Assert.Equal(["key"], Keys(mapping));
        Assert.Equal(value, mapping["key"].ToString());
    }

    [Fact]
    public void A_hostname_that_would_add_a_key_never_reaches_the_seed()
    {
        var refusal = Assert.Throws<InvalidCloudInitException>(() =>
            CloudInitSeed.Files(VmId, Config with { Hostname = "web\"\nruncmd: [reboot]\n#" }));
        Assert.Equal("hostname", refusal.Field);
    }

    [Fact]
    public void Owner_user_data_makes_a_multipart_message_with_paddocks_part_first_and_the_owners_second()
    {
        const string owner = "#cloud-config\r\npackages: [htop]\r\nwrite_files:\r\n  - path: /etc/motd\r\n    content: \"Grüße, ünïcödé ✓\"\r\n";
        var files = CloudInitSeed.Files(VmId, Config with { UserData = owner });
        var message = Text(files, "user-data");

        var parts = MultipartMessage.Parse(message);

        Assert.Equal(2, parts.Count);
        Assert.All(parts, part =>
        {
            Assert.Equal("text/cloud-config; charset=\"utf-8\"", part.Headers["Content-Type"]);
            Assert.Equal("base64", part.Headers["Content-Transfer-Encoding"]);
        });
        Assert.Equal(Text(CloudInitSeed.Files(VmId, Config), "user-data"), parts[0].Body);
        Assert.Equal(owner.ReplaceLineEndings("\n"), parts[1].Body);
        Assert.DoesNotContain(MultipartMessage.Boundary(message), parts[0].Body + parts[1].Body, StringComparison.Ordinal);
    }

    [Fact]
    public void The_boundary_is_one_that_no_part_holds()
    {
        Assert.Equal("==paddock-0==", CloudInitSeed.Boundary(["abc", "def"]));
        Assert.Equal("==paddock-2==", CloudInitSeed.Boundary(["x==paddock-0==", "y==paddock-1==y"]));
    }

    [Fact]
    public void Network_config_is_written_as_given_with_lf_line_endings_and_only_when_given()
    {
        Assert.Equal(["meta-data", "user-data"], CloudInitSeed.Files(VmId, Config).Keys);

        var files = CloudInitSeed.Files(VmId, Config with { NetworkConfig = "# mine\r\nversion: 2\r\nethernets: {eth0: {dhcp4: true}}\r\n" });

        Assert.Equal(["meta-data", "network-config", "user-data"], files.Keys);
        Assert.Equal("# mine\nversion: 2\nethernets: {eth0: {dhcp4: true}}\n", Text(files, "network-config"));
    }

    [Fact]
    public void Every_file_is_utf8_without_a_byte_order_mark_or_carriage_returns()
    {
        var files = CloudInitSeed.Files(VmId, Config with
        {
            PasswordHash = PasswordHash,
            UserData = "#cloud-config\r\nbootcmd: [\"echo ✓\"]\r\n",
            NetworkConfig = "version: 2\r\n",
        });

        Assert.All(files.Values, bytes =>
        {
            Assert.False(bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble));
            Assert.DoesNotContain((byte)'\r', bytes);
        });
    }

    [Fact]
    public void The_same_vm_and_config_give_the_same_bytes_as_a_migration_destination_needs()
    {
        CloudInitConfig Build() => new()
        {
            Hostname = "web-1",
            UserName = "ann",
            SshKeys = new List<string> { CloudInitKeys.Ed25519, CloudInitKeys.Ecdsa384 },
            PasswordHash = PasswordHash,
            UserData = "#cloud-config\npackages: [htop]\n",
            NetworkConfig = "version: 2\n",
            Revision = 7,
        };

        var source = CloudInitSeed.Files(VmId, Build());
        var destination = CloudInitSeed.Files(VmId, Build());

        Assert.Equal(source.Keys, destination.Keys);
        Assert.All(source, file => Assert.Equal(file.Value, destination[file.Key]));
    }

    [Fact]
    public void An_invalid_config_makes_no_seed() =>
        Assert.Equal("userData", Assert.Throws<InvalidCloudInitException>(() =>
            CloudInitSeed.Files(VmId, Config with { UserData = "packages: [htop]\n" })).Field);

    [Fact]
    public void A_config_printed_for_a_log_shows_sizes_not_user_data_network_config_or_password()
    {
        const string userData = "#cloud-config\nruncmd: [echo top-secret]\n"; // 40 bytes
        var printed = (Config with
        {
            PasswordHash = PasswordHash,
            UserData = userData,
            NetworkConfig = "version: 2 # secret-net\n",
        }).ToString();

        Assert.Contains("Hostname = web-1", printed, StringComparison.Ordinal);
        Assert.Contains("UserData = <40 bytes>", printed, StringComparison.Ordinal);
        Assert.Contains("PasswordHash = <set>", printed, StringComparison.Ordinal);
        Assert.Contains("SshKeys = <2 keys>", printed, StringComparison.Ordinal);
        Assert.DoesNotContain("top-secret", printed, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-net", printed, StringComparison.Ordinal);
        Assert.DoesNotContain(PasswordHash, printed, StringComparison.Ordinal);
    }
}
