using JasperFx;
using Marten;
using Microsoft.AspNetCore.SignalR;
using MudBlazor.Services;
using Paddock.Portal.Components;
using Weasel.Core;

namespace Paddock.Portal;

/// <summary>
/// The web app itself: options, the store, Blazor and the request pipeline. Each feature registers
/// its own services and documents from its folder (<c>Features/Name/NameExtensions.cs</c>), and
/// Program.cs reads as their table of contents.
/// </summary>
public static class Extensions
{
    public static void AddPortal(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PortalOptions>().BindConfiguration(PortalOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<Shared.DatabaseClock>();
        builder.Services.AddSingleton<TimeProvider>(services => services.GetRequiredService<Shared.DatabaseClock>());
        builder.Services.AddHostedService<Shared.DatabaseClockSync>();
        // Every background loop catches, logs and tries again by itself (Keeper, CommandDispatcher,
        // HostWatch...); should one still end by an exception, the portal serves on without it
        // rather than stop (the default stops the whole process: a database restart must not).
        builder.Services.Configure<HostOptions>(o => o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.Ignore);

        var connection = StoreConnection(builder.Configuration.GetConnectionString("Paddock")
            ?? throw new InvalidOperationException("ConnectionStrings:Paddock is not set: the portal needs PostgreSQL."));
        builder.Services.AddMarten(options =>
        {
            options.Connection(connection);
            options.DatabaseSchemaName = "paddock";
            options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
            options.UseSystemTextJsonForSerialization(EnumStorage.AsString);
        }).UseLightweightSessions().ApplyAllDatabaseChangesOnStartup();

        // Run from a build (./paddock up) as well as from published output (docker): a build
        // serves package assets (MudBlazor, noVNC) through the static web assets manifest.
        builder.WebHost.UseStaticWebAssets();
        // HTTP/1.1 only, so WebSockets (circuits, consoles) upgrade the classic way. Over HTTPS
        // Chromium otherwise runs them over HTTP/2 (RFC 8441), and here their browser-to-server
        // direction stalled now and then: keystrokes and clicks never arrived (three CI runs; the
        // same symptom as dotnet/aspnetcore#67546 on .NET 10).
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1);
            // The certificate is read once, at start (restart the portal for a new one). Kestrel's
            // watch of the certificate's file can deadlock the start: its own lock against the file
            // watcher's when a change in that directory fires meanwhile (seen in CI: a portal that
            // never listened; the two threads in CertificatePathWatcher.UpdateWatches and .OnChange).
            kestrel.Configure(context.Configuration.GetSection("Kestrel"), reloadOnChange: false);
        });
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddProblemDetails();
        // Bad input is 400, an unreachable database 503, by the exception's class: see ExceptionAnswers.
        builder.Services.AddExceptionHandler<ExceptionAnswers>();
        builder.Services.ConfigureHttpJsonOptions(o => RequestJson.Configure(o.SerializerOptions));
        builder.Services.AddMudServices();
    }

    /// <summary>
    /// The sessions' connection string. How long a request may wait for one of the pool's connections
    /// (Npgsql's Timeout, 15 s by default): under a burst (a thousand creates at once, each ledger
    /// write in turn) a request waits its turn instead of answering 503 as if the store were away. A
    /// store that is away still answers at once: its connections are refused, not waited for. The
    /// connections name this process in pg_stat_activity (<see cref="Shared.PoolWatch"/>).
    /// </summary>
    internal static string StoreConnection(string connection)
    {
        var settings = new Npgsql.NpgsqlConnectionStringBuilder(connection);
        settings.Timeout = Math.Max(settings.Timeout, 60);
        settings.ApplicationName ??= Shared.PoolWatch.ApplicationName;
        return settings.ConnectionString;
    }

    internal static bool IsForPrograms(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments("/hubs") || path.StartsWithSegments("/console") || path.StartsWithSegments("/agent")
        || path.StartsWithSegments("/migration");

    /// <summary>
    /// Sent with every response. Scripts only from the portal itself; styles may be inline because
    /// MudBlazor and xterm.js set them from script; sockets only back to the portal (consoles,
    /// Blazor); no framing by other sites.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        + "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    public static void UsePortal(this WebApplication app)
    {
        app.UseTrustedProxies();
        app.Use((http, next) =>
        {
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "same-origin";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            return next(http);
        });

        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/not-found", createScopeForErrors: true);
            // Browsers stay on HTTPS once they have seen it (never sent for localhost).
            app.UseHsts();
        }

        // The run command serves HTTPS; plain HTTP only says where to go.
        app.UseHttpsRedirection();

        // People get the not-found page; programs (API, hub, console sockets) a problem detail (below).
        app.UseWhen(
            http => HttpMethods.IsGet(http.Request.Method) && !IsForPrograms(http.Request.Path),
            branch => branch.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true));
        // An empty error answer to a program (401, 403, a 400 from binding) gets a problem detail.
        app.UseWhen(http => IsForPrograms(http.Request.Path), branch => branch.UseStatusCodePages());
        app.UsePageQueryCheck();
        app.UseWebSockets();
        // After routing (implicit), so the sign-in endpoint's policy applies; before anything reads the form.
        app.UseRateLimiter();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
        // SignalR answers a hub GET that is neither a WebSocket nor names a connection in plain text; a program gets a problem detail.
        app.Use((http, next) =>
            http.GetEndpoint()?.Metadata.GetMetadata<HubMetadata>() is not null && HttpMethods.IsGet(http.Request.Method)
            && !http.WebSockets.IsWebSocketRequest && !http.Request.Query.ContainsKey("id")
                ? throw new BadHttpRequestException("A hub is reached by WebSocket, or with the connection id its negotiate gave.")
                : next(http));
    }

    public static void MapPortal(this WebApplication app)
    {
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
    }
}
