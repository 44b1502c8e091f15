using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Paddock.Host.Portal;

/// <summary>
/// Which portal certificates the agent accepts: with a pin (the SHA-256 fingerprint it was given),
/// that certificate alone, whoever signed it; without one, any a trusted authority signed. Every
/// connection to the portal (hub, image transfers, console sockets) goes through here.
/// </summary>
public sealed class PortalTrust(IOptions<AgentOptions> options)
{
    private readonly string? _pin = options.Value.PortalCertificateSha256?.Replace(":", "").ToLowerInvariant();

    /// <remarks>
    /// A pin is the stronger statement: an authority that signs a certificate for the portal's name
    /// (a company CA, a mis-issued one) must not let another machine stand in for the pinned portal.
    /// The pinned certificate's name and chain are not checked: its fingerprint says which it is.
    /// </remarks>
    public bool Accept(X509Certificate? certificate, SslPolicyErrors errors) =>
        _pin is null
            ? errors == SslPolicyErrors.None
            : certificate is not null && CryptographicOperations.FixedTimeEquals(Convert.FromHexString(_pin), SHA256.HashData(certificate.GetRawCertData()));

    public HttpMessageHandler CreateHandler() => new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accept(certificate, errors) },
    };

    public HttpClient CreateClient(TimeSpan timeout) => new(CreateHandler()) { BaseAddress = new Uri(options.Value.PortalUrl), Timeout = timeout };

    public void Apply(ClientWebSocketOptions socket) => socket.RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accept(certificate, errors);

    /// <summary>For SignalR's HTTP transport, whose handler it makes itself.</summary>
    public HttpMessageHandler Apply(HttpMessageHandler handler)
    {
        if (handler is HttpClientHandler client)
        {
            client.ServerCertificateCustomValidationCallback = (_, certificate, _, errors) => Accept(certificate, errors);
        }

        return handler;
    }
}
