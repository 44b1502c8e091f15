using Paddock.Portal.Features.SshKeys;

namespace Paddock.Unit.Portal.SshKeys;

public sealed class SshKeyFingerprintTests
{
    [Fact]
    public void The_fingerprint_is_the_one_ssh_keygen_prints()
    {
        // ssh-keygen -l -f on this key printed: 256 SHA256:CS0oo/cFh5cm0s2HWvNyLfDk4HuFsUbgzmYIUfySqNk root@vm (ED25519)
        const string key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAB+Z2rn38eub8qAgtl4sLdKtcqh3lUojSAEwCa+nrfu root@vm";
        Assert.Equal("SHA256:CS0oo/cFh5cm0s2HWvNyLfDk4HuFsUbgzmYIUfySqNk", SshKeyService.FingerprintOf(key));
    }

    [Fact]
    public void The_comment_and_spacing_do_not_change_it()
    {
        const string key = "ssh-ed25519  AAAAC3NzaC1lZDI1NTE5AAAAIAB+Z2rn38eub8qAgtl4sLdKtcqh3lUojSAEwCa+nrfu   someone else";
        Assert.Equal("SHA256:CS0oo/cFh5cm0s2HWvNyLfDk4HuFsUbgzmYIUfySqNk", SshKeyService.FingerprintOf(key));
    }
}
