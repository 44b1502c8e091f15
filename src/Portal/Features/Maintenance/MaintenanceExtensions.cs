using Marten;
using Paddock.Portal.Features.Placement;

namespace Paddock.Portal.Features.Maintenance;

public static class MaintenanceExtensions
{
    /// <summary>Maintenance that empties a host: the planner's service, the evacuations' document and keeper, and the Capacity page's dialogs.</summary>
    public static void AddMaintenance(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MaintenanceOptions>().BindConfiguration(MaintenanceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<ChangeNotifier<EvacuationChanged>>();
        builder.Services.AddSingleton<MaintenanceService>();
        builder.Services.AddScoped<IHostMaintenance, HostMaintenanceDialogs>();
        builder.Services.AddHostedService<EvacuationKeeper>();
        // Every step stores the host's evacuation again, version-checked: see EvacuationKeeper.
        builder.Services.ConfigureMarten(options => options.Schema.For<HostEvacuation>().UseOptimisticConcurrency(true));
    }

    public static void MapMaintenance(this WebApplication app) => app.MapMaintenanceEndpoints();
}
