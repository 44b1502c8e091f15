using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Paddock.Portal.Features.Telemetry;

/// <summary>
/// OpenTelemetry: metrics (Paddock's own, ASP.NET Core's, HttpClient's, Npgsql's) scraped by
/// Prometheus at <c>/api/metrics</c> with an admin's API token (a read-only one will do), and traces
/// of requests, outgoing calls and SQL. Both go to an OTLP collector too when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the SDK's own variables: protocol, headers).
/// </summary>
public static class TelemetryExtensions
{
    public const string MetricsPath = "/api/metrics";

    public static void AddTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddHostedService(services => services.GetRequiredService<FleetGauges>());
        builder.Services.AddSingleton<FleetGauges>();
        var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("paddock-portal"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(PortalMetrics.MeterName).AddNpgsqlInstrumentation().AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            })
            .WithTracing(tracing =>
            {
                // A button press is the Components source's event span; the operation it asks for is Paddock's.
                tracing.AddSource(PortalTracing.SourceName, "Microsoft.AspNetCore.Components").AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddNpgsql();
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            });
    }

    public static void MapTelemetry(this WebApplication app) =>
        app.MapPrometheusScrapingEndpoint(MetricsPath).RequireAuthorization(policy => policy.RequireRole(Roles.Admin));
}
