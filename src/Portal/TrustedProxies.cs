using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Paddock.Portal;

/// <summary>Behind a reverse proxy (<see cref="PortalOptions.TrustedProxies"/>): the person's address, scheme and host, from that proxy only.</summary>
public static class TrustedProxies
{
    public static void UseTrustedProxies(this WebApplication app)
    {
        var proxies = app.Services.GetRequiredService<IOptions<PortalOptions>>().Value.TrustedProxies;
        if (proxies.Count == 0)
        {
            return;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto | ForwardedHeaders.XForwardedHost,
            // One proxy: the last hop it adds is the only one believed (a client's own X-Forwarded-For stays a claim).
            ForwardLimit = 1,
        };
        // Not the framework's default of loopback: exactly the configured proxies.
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        foreach (var proxy in proxies)
        {
            options.KnownIPNetworks.Add(PortalOptions.ProxyNetwork(proxy)!.Value);
        }
        app.UseForwardedHeaders(options);
    }
}
