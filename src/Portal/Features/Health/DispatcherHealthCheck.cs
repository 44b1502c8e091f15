using Microsoft.Extensions.Diagnostics.HealthChecks;
using Paddock.Portal.Features.Agents;

namespace Paddock.Portal.Features.Health;

/// <summary>The command dispatcher's loop runs: it went round lately (it does at least every 5 s, a failed round included).</summary>
public sealed class DispatcherHealthCheck(CommandDispatcher dispatcher, TimeProvider clock) : IHealthCheck
{
    private static readonly TimeSpan Stale = TimeSpan.FromMinutes(1);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(dispatcher.ExecuteTask is { IsCompleted: false } && dispatcher.LastRound is { } last && clock.GetUtcNow() - last < Stale
            ? HealthCheckResult.Healthy("The command dispatcher runs.")
            : HealthCheckResult.Unhealthy("The command dispatcher does not run."));
}
