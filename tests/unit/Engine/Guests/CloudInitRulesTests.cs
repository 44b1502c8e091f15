using System.Text;
using Paddock.Engine.Guests;

namespace Paddock.Unit.Engine.Guests;

public sealed class CloudInitRulesTests
{
    private static readonly CloudInitConfig Valid = new()
    {
        Hostname = "web-1.lab.example",
        UserName = "ann",
        SshKeys = [CloudInitKeys.Ed25519, CloudInitKeys.Ecdsa384],
        PasswordHash = Sha512Crypt.Hash("secret", "saltsalt"),
        UserData = "#cloud-config\npackages: [htop]\n",
        NetworkConfig = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n",
    };

    private static InvalidCloudInitException Refused(CloudInitConfig config) =>
        Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.Check(config));

    [Fact]
    public void A_config_with_every_field_set_well_passes() => CloudInitRules.Check(Valid);

    [Fact]
    public void A_config_with_only_a_hostname_passes() => CloudInitRules.Check(new CloudInitConfig { Hostname = "vm" });

    [Theory]
    [InlineData("a")]
    [InlineData("web-1")]
    [InlineData("1st.lab-2.example")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void A_hostname_of_rfc_1123_labels_passes(string hostname) => CloudInitRules.CheckHostname(hostname);

    [Theory]
    [InlineData("")]
    [InlineData("Web-1")]
    [InlineData("-web")]
    [InlineData("web-")]
    [InlineData("web..lab")]
    [InlineData("web.")]
    [InlineData("web_1")]
    [InlineData("web 1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("web\nruncmd: [reboot]")]
    [InlineData("web\"\nruncmd: [\"reboot\"]\n#")]
    public void A_hostname_that_is_no_rfc_1123_name_in_lower_case_is_refused(string hostname)
    {
        var refusal = Refused(Valid with { Hostname = hostname });
        Assert.Equal("hostname", refusal.Field);
        Assert.Null(refusal.Line);
        Assert.DoesNotContain('\n', refusal.Message);
    }

    [Fact]
    public void A_hostname_longer_than_253_characters_is_refused()
    {
        var hostname = string.Join('.', Enumerable.Repeat(new string('a', 63), 4)); // 255
        Assert.Contains("253", Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckHostname(hostname)).Message);
        CloudInitRules.CheckHostname(hostname[..253]);
    }

    [Theory]
    [InlineData("ann")]
    [InlineData("_svc")]
    [InlineData("a-b_9")]
    [InlineData("abcdefghijklmnopqrstuvwxyz012345")]
    public void A_user_name_by_debians_rules_passes(string userName) => CloudInitRules.CheckUserName(userName);

    [Theory]
    [InlineData("")]
    [InlineData("Ann")]
    [InlineData("1ann")]
    [InlineData("ann\n")]
    [InlineData("ann smith")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456")]
    [InlineData("root")]
    [InlineData("www-data")]
    [InlineData("_apt")]
    [InlineData("systemd-network")]
    public void A_user_name_that_is_malformed_or_a_system_account_is_refused(string userName)
    {
        var refusal = Refused(Valid with { UserName = userName });
        Assert.Equal("user", refusal.Field);
    }

    [Fact]
    public void A_password_hash_without_a_user_is_refused()
    {
        Assert.Equal("password", Refused(Valid with { UserName = null }).Field);
        CloudInitRules.Check(Valid with { UserName = null, PasswordHash = null });
    }

    [Theory]
    [InlineData("secret")]
    [InlineData("$1$salt$abcdefghijklmnopqrstuv")]
    [InlineData("$6$saltsalt$short")]
    public void A_password_that_is_no_sha_512_crypt_hash_is_refused(string passwordHash)
    {
        var refusal = Refused(Valid with { PasswordHash = passwordHash });
        Assert.Equal("password", refusal.Field);
        Assert.DoesNotContain(passwordHash, refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_password_hash_with_rounds_passes() =>
        CloudInitRules.CheckPasswordHash(Sha512Crypt.Hash("secret", "saltsalt", 10_000));

    [Theory]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy")]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy Ann Smith <ann@example.org> \"quoted\" #1")]
    public void A_key_with_or_without_a_comment_passes(string key) => CloudInitRules.CheckSshKeys([key]);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("ssh-ed25519", "type key [comment]")]
    [InlineData("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "type must be one of")]
    [InlineData("command=\"reboot\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy", "type must be one of")]
    [InlineData("ssh-ed25519 not*base64", "base64")]
    [InlineData("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy", "not a ssh-rsa key")]
    [InlineData("ssh-ed25519 AAAA", "not a ssh-ed25519 key")]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy ann\nssh-rsa AAAA", "single line")]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy ann\"\nruncmd: [reboot]", "single line")]
    [InlineData("ssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy", "single line")]
    [InlineData("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy ann\u2028runcmd", "single line")]
    public void A_malformed_key_is_refused_with_its_index_and_reason(string key, string reason)
    {
        var refusal = Refused(Valid with { SshKeys = [CloudInitKeys.Ed25519, key] });
        Assert.Equal("sshKeys[1]", refusal.Field);
        Assert.StartsWith("SSH key 2: ", refusal.Message, StringComparison.Ordinal);
        Assert.Contains(reason, refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_over_16_kib_is_refused_and_one_just_under_passes()
    {
        var prefix = CloudInitKeys.Ed25519 + " ";
        CloudInitRules.CheckSshKeys([prefix + new string('c', CloudInitRules.MaxSshKeyBytes - prefix.Length)]);
        var refusal = Assert.Throws<InvalidCloudInitException>(() =>
            CloudInitRules.CheckSshKeys([prefix + new string('c', CloudInitRules.MaxSshKeyBytes - prefix.Length + 1)]));
        Assert.Equal("sshKeys[0]", refusal.Field);
        Assert.Contains("16 KiB", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_than_20_keys_are_refused()
    {
        CloudInitRules.CheckSshKeys(Enumerable.Repeat(CloudInitKeys.Ed25519, 20).ToList());
        var refusal = Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckSshKeys(Enumerable.Repeat(CloudInitKeys.Ed25519, 21).ToList()));
        Assert.Equal("sshKeys", refusal.Field);
    }

    [Theory]
    [InlineData("#cloud-config")]
    [InlineData("#cloud-config\n")]
    [InlineData("#cloud-config \t\r\npackages:\r\n  - htop\r\n")]
    [InlineData("#cloud-config\n# only a comment\n")]
    [InlineData("#cloud-config\n---\n")]
    [InlineData("#cloud-config\nbase: &base {shell: /bin/sh}\nusers:\n  - <<: *base\n    name: bob\n")]
    public void User_data_of_one_mapping_or_nothing_after_the_header_passes(string userData) =>
        CloudInitRules.CheckUserData(userData);

    [Theory]
    [InlineData("#cloud-config\nusers:\n  - name: a\n   bad: indent", 4)]
    [InlineData("#cloud-config\npackages: [htop\n", 3)]
    [InlineData("#!/bin/bash\necho hi\n", 1)]
    [InlineData("#cloud-config-archive\n- type: text/cloud-config\n", 1)]
    [InlineData(" #cloud-config\n", 1)]
    [InlineData("\n#cloud-config\n", 1)]
    [InlineData("#cloud-config\n- packages\n", 2)]
    [InlineData("#cloud-config\n\n\njust a sentence\n", 4)]
    [InlineData("#cloud-config\na: 1\n---\nb: 2\n", 4)]
    [InlineData("#cloud-config\nruncmd: [*nowhere]\n", 2)]
    [InlineData("#cloud-config\na: *later\nb: &later 1\n", 2)]
    public void User_data_that_is_no_cloud_config_mapping_is_refused_at_its_line(string userData, int line)
    {
        var refusal = Refused(Valid with { UserData = userData });
        Assert.Equal("userData", refusal.Field);
        Assert.Equal(line, refusal.Line);
        Assert.StartsWith($"User-data line {line}: ", refusal.Message, StringComparison.Ordinal);
        Assert.EndsWith(".", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_top_level_key_given_twice_is_refused_at_the_second()
    {
        var refusal = Refused(Valid with { UserData = "#cloud-config\npackages: [htop]\nruncmd: []\npackages: [vim]\n" });
        Assert.Equal(4, refusal.Line);
        Assert.Contains("'packages' appears twice", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void User_data_over_64_kib_is_refused()
    {
        var userData = "#cloud-config\n#" + new string('x', CloudInitRules.MaxYamlBytes) + "\n";
        var refusal = Refused(Valid with { UserData = userData });
        Assert.Equal("userData", refusal.Field);
        Assert.Null(refusal.Line);
        Assert.Contains("64 KiB", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void User_data_nested_64_levels_deep_passes_and_65_is_refused_at_the_line_that_goes_too_deep()
    {
        static string Nested(int depth)
        {
            // The root mapping is level 1; each key below opens one more mapping, one line and two spaces further in.
            var yaml = new StringBuilder("#cloud-config\n");
            for (var level = 1; level < depth; level++)
            {
                yaml.Append(' ', 2 * (level - 1)).Append('k').Append(level).Append(":\n");
            }
            return yaml.Append(' ', 2 * (depth - 1)).Append("leaf: 1\n").ToString();
        }

        CloudInitRules.CheckUserData(Nested(64));
        var refusal = Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckUserData(Nested(65)));
        Assert.Equal(66, refusal.Line);
        Assert.Contains("deeper than 64 levels", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deep_flow_nesting_is_refused_without_building_the_tree()
    {
        var userData = "#cloud-config\na: " + new string('[', 30_000) + new string(']', 30_000) + "\n";
        var refusal = Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckUserData(userData));
        Assert.Equal(2, refusal.Line);
    }

    [Fact]
    public void Aliases_that_expand_beyond_the_bound_are_refused()
    {
        // "Billion laughs": each level lists the one above ten times; level f stands for a million nodes.
        var yaml = new StringBuilder("#cloud-config\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
        foreach (var (name, previous) in new[] { ("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e") })
        {
            yaml.Append(name).Append(": &").Append(name).Append(" [")
                .AppendJoin(", ", Enumerable.Repeat("*" + previous, 10)).Append("]\n");
        }

        var refusal = Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckUserData(yaml.ToString()));
        Assert.Equal("userData", refusal.Field);
        Assert.Contains("aliases", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Aliases_that_nest_past_the_depth_bound_are_refused()
    {
        // 40 levels anchored, then used 40 levels down: 80 once expanded, though neither part is deep alone.
        var deep = new string('[', 40) + new string(']', 40);
        var userData = $"#cloud-config\na: &deep {deep}\nb: {new string('[', 39)}*deep{new string(']', 39)}\n";
        var refusal = Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckUserData(userData));
        Assert.Contains("deeper than 64 levels once its aliases are followed", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_alias_inside_its_own_anchor_is_refused_rather_than_walked_forever()
    {
        var refusal = Assert.Throws<InvalidCloudInitException>(() => CloudInitRules.CheckUserData("#cloud-config\na: &loop [x, *loop]\n"));
        Assert.Equal(2, refusal.Line);
    }

    [Theory]
    [InlineData("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n")]
    [InlineData("network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [192.0.2.10/24]\n")]
    [InlineData("# written by hand\r\nversion: 2\r\n")]
    public void Network_config_version_2_at_the_root_or_under_network_passes(string networkConfig) =>
        CloudInitRules.CheckNetworkConfig(networkConfig);

    [Theory]
    [InlineData("version: 1\nconfig: []\n", 1, "must be 2")]
    [InlineData("network:\n  config: disabled\n  version: 1\n", 3, "must be 2")]
    [InlineData("version: '2'\n", 1, "must be 2")]
    [InlineData("ethernets:\n  eth0: {dhcp4: true}\n", 1, "'version: 2' is missing")]
    [InlineData("network:\n  ethernets: {}\n", 2, "'version: 2' is missing")]
    [InlineData("network: 2\n", 1, "'network:' must be a mapping")]
    [InlineData("- version: 2\n", 1, "must be a mapping")]
    [InlineData("", 1, "must be a mapping")]
    [InlineData("version: 2\nethernets:\n  eth0:\n    dhcp4: true\n   match: {}\n", 5, "")]
    public void Network_config_without_version_2_is_refused_at_its_line(string networkConfig, int line, string reason)
    {
        var refusal = Refused(Valid with { NetworkConfig = networkConfig });
        Assert.Equal("networkConfig", refusal.Field);
        Assert.Equal(line, refusal.Line);
        Assert.StartsWith($"Network-config line {line}: ", refusal.Message, StringComparison.Ordinal);
        Assert.Contains(reason, refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_revision_below_1_is_refused() => Assert.Equal("revision", Refused(Valid with { Revision = 0 }).Field);

    [Fact]
    public void Text_with_a_lone_surrogate_is_refused_rather_than_mangled()
    {
        Assert.Equal("userData", Refused(Valid with { UserData = "#cloud-config\na: \"\ud800\"\n" }).Field);
        Assert.Equal("sshKeys[0]", Refused(Valid with { SshKeys = [CloudInitKeys.Ed25519 + " \udc00"] }).Field);
    }
}
