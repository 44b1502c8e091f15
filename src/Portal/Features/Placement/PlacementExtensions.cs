using JasperFx.Events.Projections;
using Marten;
using Paddock.Portal.Features.Agents;

namespace Paddock.Portal.Features.Placement;

public static class PlacementExtensions
{
    /// <summary>Placement and the hosts' policies, and their streams and documents.</summary>
    public static void AddPlacement(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<PlacementChanged>>();
        builder.Services.AddSingleton<PlacementService>();
        builder.Services.AddSingleton<PlacementView>();
        builder.Services.AddSingleton<IHostSettingsSource>(services => services.GetRequiredService<PlacementService>());
        builder.Services.AddHostedService<HostSettingsPush>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Projections.Snapshot<HostPolicy>(SnapshotLifecycle.Inline);
            // Every placement stores its host's ledger again, version-checked: see HostLedger.
            options.Schema.For<HostLedger>().UseOptimisticConcurrency(true);
        });
    }

    public static void MapPlacement(this WebApplication app) => app.MapPlacementEndpoints();
}
