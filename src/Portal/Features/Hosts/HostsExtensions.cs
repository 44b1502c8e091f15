using Marten;
using Microsoft.AspNetCore.Authentication;

namespace Paddock.Portal.Features.Hosts;

public static class HostsExtensions
{
    /// <summary>Host records and enrollment, the agents' credential scheme, and their documents.</summary>
    public static void AddHosts(this WebApplicationBuilder builder)
    {
        builder.Services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, AgentAuthentication>(AgentAuthentication.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AgentAuthentication.Policy, policy => policy.AddAuthenticationSchemes(AgentAuthentication.SchemeName).RequireRole("host-agent"));
        builder.Services.AddSingleton<HostEnrollment>();
        builder.Services.AddSingleton<PortalCertificate>();
        builder.Services.AddSingleton<ChangeNotifier<HostsChanged>>();
        builder.Services.AddSingleton<ChangeNotifier<HostUsageChanged>>();
        builder.Services.AddSingleton<ChangeNotifier<HostRevoked>>();
        builder.Services.AddHostedService<HostsOnStartup>();
        builder.Services.AddHostedService<RevokedHostLinks>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Schema.For<HostRecord>().UseOptimisticConcurrency(true);
            // Spending a join token is version-checked: one token, one host.
            options.Schema.For<JoinToken>().UseOptimisticConcurrency(true);
        });
    }

    public static void MapHosts(this WebApplication app) => app.MapHostEndpoints();
}
