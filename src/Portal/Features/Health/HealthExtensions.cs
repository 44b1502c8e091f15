using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Paddock.Portal.Features.Health;

/// <summary>
/// <c>/healthz</c> (the process answers) and <c>/readyz</c> (PostgreSQL answers and the command
/// dispatcher runs), for a load balancer or an orchestrator: anonymous, and saying nothing but each
/// check's name, its status and a fixed sentence.
/// </summary>
public static class HealthExtensions
{
    private const string Ready = "ready";

    public static void AddHealth(this WebApplicationBuilder builder) =>
        builder.Services.AddHealthChecks()
            .AddCheck<StoreHealthCheck>("database", tags: [Ready])
            .AddCheck<DispatcherHealthCheck>("dispatcher", tags: [Ready]);

    public static void MapHealth(this WebApplication app)
    {
        string[] reads = [HttpMethods.Get, HttpMethods.Head];
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).WithMetadata(new HttpMethodMetadata(reads)).AllowAnonymous();
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(Ready), ResponseWriter = WriteAsync })
            .WithMetadata(new HttpMethodMetadata(reads)).AllowAnonymous();
    }

    /// <summary>{"status":"Unhealthy","checks":{"database":{"status":"Unhealthy","description":"PostgreSQL does not answer."},…}}</summary>
    private static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        return http.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        }));
    }
}
