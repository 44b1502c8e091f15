using Paddock.Portal.Features.Vms;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Vms;

public sealed class GuestSetupTests
{
    private const string Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAB+Z2rn38eub8qAgtl4sLdKtcqh3lUojSAEwCa+nrfu root@vm";

    [Theory]
    [InlineData("Web Server #1", "web-server--1")]
    [InlineData("---", "vm")]
    [InlineData("Ünïcode", "n-code")]
    public void A_hostname_is_made_from_the_vm_name_when_none_is_given(string name, string hostname) =>
        Assert.Equal(hostname, GuestSetup.HostnameFrom(name));

    [Fact]
    public void The_password_is_kept_only_as_a_sha512_crypt_hash()
    {
        var config = new GuestSetup(User: "alice", Password: "correct horse").ToConfig("vm");
        Assert.StartsWith("$6$", config.PasswordHash);
        Assert.DoesNotContain("correct horse", config.PasswordHash, StringComparison.Ordinal);
        var hashed = new GuestSetup(User: "alice", Password: "correct horse").Hashed();
        Assert.Null(hashed.Password);
        Assert.StartsWith("$6$", hashed.PasswordHash);
    }

    [Fact]
    public void Picked_profile_keys_join_the_pasted_ones_once_each()
    {
        var config = new GuestSetup(User: "alice", SshKeys: [Key]).ToConfig("vm", [Key, Key]);
        Assert.Equal([Key], config.SshKeys);
    }

    [Fact]
    public void A_refusal_names_the_guest_field_and_the_line()
    {
        var refused = Assert.Throws<RefusedException>(() =>
            new GuestSetup(User: "alice", UserData: "#cloud-config\nusers:\n  - name: a\n   bad: [x\n").ToConfig("vm"));
        Assert.Equal("guest.userData", refused.Field);
        Assert.Contains("line 4", refused.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("guest.password", Assert.Throws<RefusedException>(() => new GuestSetup(User: "alice", Password: "short").ToConfig("vm")).Field);
    }
}
