using Marten;
using Marten.Schema;

namespace Paddock.Portal.Features.Flavors;

public static class FlavorsExtensions
{
    /// <summary>Flavors, and their documents.</summary>
    public static void AddFlavors(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<FlavorsChanged>>();
        builder.Services.AddSingleton<FlavorService>();
        builder.Services.ConfigureMarten(options =>
            options.Schema.For<Flavor>().UniqueIndex(UniqueIndexType.Computed, "uq_flavor_name", f => f.Name).UseOptimisticConcurrency(true));
    }

    public static void MapFlavors(this WebApplication app) => app.MapFlavorEndpoints();
}
