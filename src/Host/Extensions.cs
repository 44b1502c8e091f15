using Paddock.Host.Console;
using Paddock.Host.Portal;
using Paddock.Host.Vms;

namespace Paddock.Host;

/// <summary>The agent's registrations; Program.cs reads as their table of contents.</summary>
public static class Extensions
{
    public static void AddAgentOptions(this HostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AgentOptions>().BindConfiguration(AgentOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSystemd();
        // VMs outlive the agent: give it time to hand over cleanly, never to take them along.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
    }

    public static void AddAgentVms(this HostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<PortalTrust>();
        builder.Services.AddSingleton<HostIdentity>();
        builder.Services.AddSingleton<AgentCredential>();
        builder.Services.AddSingleton<OperationJournal>();
        builder.Services.AddSingleton<ImageCache>();
        builder.Services.AddSingleton(new Paddock.Engine.Isolation.CpuCgroup());
        builder.Services.AddSingleton<ResourceLimiter>();
        builder.Services.AddSingleton<ConfinementGuard>();
        builder.Services.AddSingleton<VmSupervisor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<VmSupervisor>());
    }

    public static void AddAgentConsole(this HostApplicationBuilder builder) =>
        builder.Services.AddSingleton<ConsoleBridge>();

    public static void AddAgentPortalConnection(this HostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<KsmKeeper>();
        builder.Services.AddHostedService<UsageReporter>();
        builder.Services.AddSingleton<PortalConnection>();
        builder.Services.AddSingleton<IPortalReporter>(services => services.GetRequiredService<PortalConnection>());
        builder.Services.AddHostedService(services => services.GetRequiredService<PortalConnection>());
    }
}
