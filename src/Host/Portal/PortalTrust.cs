using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Paddock.Host.Portal;

/// <summary>
/// Which portal certificates the agent accepts: any a trusted authority signed, and the one whose
/// SHA-256 fingerprint it was given (a self-signed portal). Every connection to the portal (hub,
/// image transfers, console sockets) goes through here.
/// </summary>
public sealed class PortalTrust(IOptions<AgentOptions> options)
{
    private readonly string? _pin = options.Value.PortalCertificateSha256?.Replace(":", "").ToLowerInvariant();

    public bool Accept(X509Certificate? certificate, SslPolicyErrors errors) =>
        errors == SslPolicyErrors.None
        || (_pin is not null && certificate is not null
            && CryptographicOperations.FixedTimeEquals(Convert.FromHexString(_pin), SHA256.HashData(certificate.GetRawCertData())));

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
