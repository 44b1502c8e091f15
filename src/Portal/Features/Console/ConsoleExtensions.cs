using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Console;

public static class ConsoleExtensions
{
    /// <summary>The VMs' consoles (screen and serial): tickets, the relay through the agents, open sessions, and their documents.</summary>
    public static void AddConsoles(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ConsoleTickets>();
        builder.Services.AddSingleton<ConsoleRendezvous>();
        builder.Services.AddSingleton<IHostLinks>(services => services.GetRequiredService<ConsoleRendezvous>());
        builder.Services.AddSingleton<ConsoleRelay>();
        builder.Services.AddSingleton<ConsoleForwarding>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ConsoleForwarding>());
        builder.Services.AddSingleton<Shared.ChangeNotifier<ConsoleDialAsked>>();
        builder.Services.AddSingleton<Shared.ChangeNotifier<ConsoleDialAnswered>>();
        builder.Services.AddSingleton<ConsoleRefusals>();
        builder.Services.AddSingleton<ConsoleSessions>();
        builder.Services.AddSingleton<ISessionHolder>(services => services.GetRequiredService<ConsoleSessions>());
        builder.Services.AddHostedService(services => services.GetRequiredService<ConsoleSessions>());
        builder.Services.AddSingleton<Shared.IExpiredState, ConsoleTicketExpiry>();
        builder.Services.ConfigureMarten(options => options.Schema.For<ConsoleTicket>().UseOptimisticConcurrency(true).Index(t => t.ExpiresAt));
    }

    public static void MapConsoles(this WebApplication app) => app.MapConsoleEndpoints();
}
