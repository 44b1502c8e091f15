using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Paddock.Portal.Features.Hosts;

/// <summary>
/// The certificate the portal serves HTTPS with (Kestrel's default one), as a new host needs to
/// know it: a self-signed certificate is trusted by its SHA-256 fingerprint, the way kubeadm pins
/// its CA with a hash next to the join token.
/// </summary>
public sealed class PortalCertificate(IConfiguration configuration)
{
    private readonly Lazy<string?> _sha256 = new(() =>
        configuration["Kestrel:Certificates:Default:Path"] is { Length: > 0 } path && File.Exists(path)
            ? Fingerprint(X509CertificateLoader.LoadCertificateFromFile(path))
            : null);

    /// <summary>Lower-case hex SHA-256 of the certificate; null when the portal has none configured.</summary>
    public string? Sha256 => _sha256.Value;

    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));
}
