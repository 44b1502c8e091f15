using JasperFx.Events.Projections;
using Marten;

namespace Paddock.Portal.Features.Quotas;

public static class QuotasExtensions
{
    /// <summary>Quotas and the fleet's policy, and their streams and documents.</summary>
    public static void AddQuotas(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<QuotasChanged>>();
        builder.Services.AddSingleton<QuotaService>();
        builder.Services.AddSingleton<PolicyService>();
        builder.Services.ConfigureMarten(options =>
        {
            options.Projections.Snapshot<Quota>(SnapshotLifecycle.Inline);
            options.Projections.Snapshot<PolicyDocument>(SnapshotLifecycle.Inline);
            // Every admission stores its ledgers again, version-checked: see QuotaLedger.
            options.Schema.For<QuotaLedger>().UseOptimisticConcurrency(true);
        });
    }

    public static void MapQuotas(this WebApplication app) => app.MapQuotaEndpoints();
}
