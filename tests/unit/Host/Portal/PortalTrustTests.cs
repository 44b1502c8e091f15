using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Paddock.Host;
using Paddock.Host.Portal;

namespace Paddock.Unit.Host.Portal;

public sealed class PortalTrustTests
{
    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static PortalTrust Trust(string? pin) =>
        new(Options.Create(new AgentOptions { PortalUrl = "https://portal.example", PortalCertificateSha256 = pin }));

    private static string ColonHex(X509Certificate2 certificate) =>
        string.Join(':', Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256)).Chunk(2).Select(c => new string(c)));

    [Fact]
    public void A_certificate_an_authority_vouches_for_needs_no_pin()
    {
        Assert.True(Trust(null).Accept(SelfSigned("portal"), SslPolicyErrors.None));
    }

    [Fact]
    public void The_pinned_self_signed_certificate_is_accepted_whether_the_pin_has_colons_or_not()
    {
        var portal = SelfSigned("portal");
        Assert.True(Trust(ColonHex(portal)).Accept(portal, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(Trust(Convert.ToHexStringLower(portal.GetCertHash(HashAlgorithmName.SHA256))).Accept(portal, SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void With_a_pin_set_a_certificate_an_authority_vouches_for_is_refused_unless_it_is_the_pinned_one()
    {
        var portal = SelfSigned("portal");
        var vouchedFor = SelfSigned("portal");
        Assert.False(Trust(ColonHex(portal)).Accept(vouchedFor, SslPolicyErrors.None));
        Assert.True(Trust(ColonHex(portal)).Accept(portal, SslPolicyErrors.None));
        Assert.False(Trust(ColonHex(portal)).Accept(null, SslPolicyErrors.None));
    }

    [Fact]
    public void The_pinned_certificate_is_accepted_under_another_name_than_the_portal_address()
    {
        var portal = SelfSigned("elsewhere");
        Assert.True(Trust(ColonHex(portal)).Accept(portal, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors));
    }

    [Fact]
    public void Another_self_signed_certificate_is_refused_even_with_a_pin_set()
    {
        var portal = SelfSigned("portal");
        var impostor = SelfSigned("portal");
        Assert.False(Trust(ColonHex(portal)).Accept(impostor, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(Trust(null).Accept(impostor, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(Trust(ColonHex(portal)).Accept(null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }
}
