using System.Net;
using System.Net.WebSockets;
using Npgsql;

namespace Paddock.E2e;

/// <summary>
/// Behind a reverse proxy named in <c>Paddock:TrustedProxies</c>, the portal takes the person's
/// address, scheme and host from that proxy's X-Forwarded headers: redirects name the public
/// address, the audit and the sign-in limits the person's, and a console's Origin must be the public
/// one. A portal that trusts no proxy believes none of those headers.
/// </summary>
[Collection(PaddockCollection.Name)]
public sealed class ReverseProxyTests(PaddockFixture paddock)
{
    private const string PublicOrigin = "https://portal.example";

    [Fact]
    public async Task Behind_a_trusted_proxy_the_portal_sees_the_persons_address_scheme_and_host_and_otherwise_believes_no_forwarded_header()
    {
        var proxied = await paddock.StartSecondPortalAsync(new Dictionary<string, string> { ["Paddock__TrustedProxies__0"] = "127.0.0.1" }, process: "portal-proxied");
        try
        {
            // A page that needs a sign-in sends the person to the public address's sign-in form.
            Assert.StartsWith($"{PublicOrigin}/account/login", await SignInRedirectAsync(proxied));
            Assert.StartsWith($"{paddock.PortalUrl}/account/login", await SignInRedirectAsync(paddock.PortalUrl));

            // A failed sign-in is audited with the person's address (and counted against it), not the proxy's.
            var probe = $"proxy-probe-{Guid.NewGuid():N}"[..20];
            await FailSignInAsync(proxied, probe, "203.0.113.7");
            Assert.Equal(1, await AuditedAsync(probe, "from 203.0.113.7"));
            await FailSignInAsync(paddock.PortalUrl, probe, "203.0.113.8");
            Assert.Equal(0, await AuditedAsync(probe, "from 203.0.113.8"));
            Assert.Equal(1, await AuditedAsync(probe, "from 127.0.0.1"));

            // A console socket must come from the public origin: the proxied portal lets it past the
            // Origin check (to be refused for its missing ticket), and refuses the portal's own address.
            var member = await paddock.SignInAsync(PaddockFixture.Fuzzy);
            var cookie = (await member.Context.CookiesAsync()).Single(c => c.Name == "__Host-paddock");
            var vm = Guid.NewGuid();
            await TryConsoleAsync(proxied, vm, PublicOrigin, $"{cookie.Name}={cookie.Value}");
            await TryConsoleAsync(proxied, vm, proxied, $"{cookie.Name}={cookie.Value}");
            await member.Context.CloseAsync();
            var log = paddock.LogOf("portal-proxied");
            Assert.Contains($"Origin '{proxied}' is not the portal's", log, StringComparison.Ordinal);
            Assert.DoesNotContain($"Origin '{PublicOrigin}' is not the portal's", log, StringComparison.Ordinal);
        }
        finally
        {
            await paddock.StopAgentAsync("portal-proxied");
        }
    }

    private async Task<string> SignInRedirectAsync(string portal)
    {
        using var http = paddock.NewHttpClient();
        using var request = Forwarded(HttpMethod.Get, $"{portal}/", "203.0.113.9");
        using var answer = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Redirect, answer.StatusCode);
        return answer.Headers.Location!.OriginalString;
    }

    private async Task FailSignInAsync(string portal, string user, string address)
    {
        using var http = paddock.NewHttpClient();
        using var formRequest = Forwarded(HttpMethod.Get, $"{portal}/account/login", address);
        using var form = await http.SendAsync(formRequest);
        using var post = Forwarded(HttpMethod.Post, $"{portal}/account/login", address);
        post.Content = PaddockFixture.SignInForm(PaddockFixture.FormToken(await form.Content.ReadAsStringAsync()), user, "not-the-password");
        using var answer = await http.SendAsync(post);
        Assert.Contains("failed=1", answer.Headers.Location?.OriginalString ?? "", StringComparison.Ordinal);
    }

    /// <summary>What a TLS-terminating proxy in front of the portal adds.</summary>
    private static HttpRequestMessage Forwarded(HttpMethod method, string url, string address) => new(method, url)
    {
        Headers =
        {
            { "X-Forwarded-For", address },
            { "X-Forwarded-Proto", "https" },
            { "X-Forwarded-Host", "portal.example" },
        },
    };

    private async Task TryConsoleAsync(string portal, Guid vm, string origin, string cookie)
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Cookie", cookie);
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())) == paddock.CertificateSha256;
        socket.Options.SetRequestHeader("Origin", origin);
        socket.Options.SetRequestHeader("X-Forwarded-For", "203.0.113.9");
        socket.Options.SetRequestHeader("X-Forwarded-Proto", "https");
        socket.Options.SetRequestHeader("X-Forwarded-Host", "portal.example");
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(new Uri($"{portal.Replace("https:", "wss:", StringComparison.Ordinal)}/console/{vm}/ws"), CancellationToken.None));
    }

    private async Task<long> AuditedAsync(string user, string what)
    {
        await using var db = new NpgsqlConnection(paddock.Connection);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select count(*) from paddock.mt_doc_auditentry where data->>'Actor' = @user and data->>'Kind' = 'SignInFailed' and data->>'What' like '%' || @what", db);
        command.Parameters.AddWithValue("user", user);
        command.Parameters.AddWithValue("what", what);
        return (long)(await command.ExecuteScalarAsync())!;
    }

}
