using Marten;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Hosts;

namespace Paddock.Portal.Features.Console;

public static class ConsoleExtensions
{
    /// <summary>The VMs' consoles (screen and serial): tickets, the relay through the agents, open sessions and share links, thumbnails, and their documents.</summary>
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
        builder.Services.AddSingleton<ThumbnailCache>();
        builder.Services.AddSingleton<ConsoleViewers>();
        builder.Services.AddSingleton<ConsoleShares>();
        builder.Services.AddSingleton<Shared.ChangeNotifier<ConsoleViewersChanged>>();
        builder.Services.AddSingleton<ConsoleSessions>();
        builder.Services.AddSingleton<ISessionHolder>(services => services.GetRequiredService<ConsoleSessions>());
        builder.Services.AddHostedService(services => services.GetRequiredService<ConsoleSessions>());
        builder.Services.AddSingleton<Shared.IExpiredState, ConsoleTicketExpiry>();
        builder.Services.AddSingleton<Shared.IExpiredState, ConsoleViewerExpiry>();
        builder.Services.AddSingleton<Shared.IExpiredState, ConsoleShareExpiry>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Schema.For<ConsoleTicket>().UseOptimisticConcurrency(true).Index(t => t.ExpiresAt);
            options.Schema.For<ConsoleViewer>().UseOptimisticConcurrency(true).Index(v => v.VmId).Index(v => v.SeenAt);
            options.Schema.For<ConsoleShare>().Index(s => s.VmId).Index(s => s.ExpiresAt);
        });
    }

    public static void MapConsoles(this WebApplication app)
    {
        app.MapConsoleEndpoints();
        app.MapThumbnailEndpoints();
        app.MapConsoleViewerEndpoints();
    }
}
