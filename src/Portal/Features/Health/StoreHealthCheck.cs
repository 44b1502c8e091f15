using Marten;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Paddock.Portal.Features.Health;

/// <summary>PostgreSQL answers a query within a few seconds.</summary>
public sealed class StoreHealthCheck(IDocumentStore store) : IHealthCheck
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        try
        {
            await using var session = store.QuerySession();
            await session.QueryAsync<int>("select 1", limit.Token);
            return HealthCheckResult.Healthy("PostgreSQL answers.");
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or Marten.Exceptions.MartenCommandException or OperationCanceledException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer.");
        }
    }
}
