using Marten;
using Paddock.Engine.Contract;
using Microsoft.AspNetCore.SignalR;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Agents;

public static class AgentsExtensions
{

    /// <summary>The agents' hub, their connections and leases, the command queue and its dispatcher, and their documents.</summary>
    public static void AddAgents(this WebApplicationBuilder builder)
    {
        builder.Services.AddSignalR().AddHubOptions<HostAgentHub>(o =>
        {
            o.AddFilter<AgentCallAnswers>();
            // What grows with a host's VMs comes in parts of about 16 KB (HubParts); SignalR's 32 KB
            // default is still short of one VM's largest usage (its guest's addresses), which this fits.
            o.MaximumReceiveMessageSize = HubParts.MaxMessageBytes;
        });
        builder.Services.AddSingleton<HostConnections>();
        builder.Services.AddSingleton<IHostLinks>(services => services.GetRequiredService<HostConnections>());
        builder.Services.AddSingleton<CommandDispatcher>();
        builder.Services.AddHostedService(services => services.GetRequiredService<CommandDispatcher>());
        builder.Services.AddHostedService<HostLeaseRenewal>();
        // Dispatcher, reports and reconnects all write a command's state: a version check keeps one
        // from overwriting another (a lost "Succeeded" made a VM look busy for good).
        builder.Services.ConfigureMarten(options => options.Schema.For<AgentCommand>().Index(c => c.State).UseOptimisticConcurrency(true));
    }

    public static void MapAgents(this WebApplication app) =>
        app.MapHub<HostAgentHub>(HostAgentHub.Path).RequireAuthorization(AgentAuthentication.Policy);
}
