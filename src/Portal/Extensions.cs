using JasperFx;
using JasperFx.Events.Projections;
using Marten;
using Marten.Schema;
using Weasel.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using MudBlazor.Services;
using Paddock.Portal.Components;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Admin;
using Paddock.Portal.Features.Console;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Vms;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Requests;
using Paddock.Portal.Features.Placement;

namespace Paddock.Portal;

/// <summary>The portal's registrations, one method per concern; Program.cs reads as their table of contents.</summary>
public static class Extensions
{
    public static void AddPortalOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PortalOptions>().BindConfiguration(PortalOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
    }

    public static void AddPortalPersistence(this WebApplicationBuilder builder)
    {
        var connection = builder.Configuration.GetConnectionString("Paddock")
            ?? throw new InvalidOperationException("ConnectionStrings:Paddock is not set: the portal needs PostgreSQL.");
        builder.Services.AddMarten(options =>
        {
            options.Connection(connection);
            options.DatabaseSchemaName = "paddock";
            options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
            options.UseSystemTextJsonForSerialization(EnumStorage.AsString);

            options.Projections.Snapshot<Vm>(SnapshotLifecycle.Inline);
            options.Projections.Snapshot<VmRequest>(SnapshotLifecycle.Inline);
            options.Projections.Snapshot<Quota>(SnapshotLifecycle.Inline);
            options.Projections.Snapshot<PolicyDocument>(SnapshotLifecycle.Inline);
            options.Projections.Snapshot<HostPolicy>(SnapshotLifecycle.Inline);
            // Every placement stores its host's ledger again, version-checked: see HostLedger.
            options.Schema.For<HostLedger>().UseOptimisticConcurrency(true);
            options.Schema.For<VmRequest>().Index(r => r.RequesterId).Index(r => r.State);
            // Every admission stores its ledgers again, version-checked: see QuotaLedger.
            options.Schema.For<QuotaLedger>().UseOptimisticConcurrency(true);
            options.Schema.For<Flavor>().UniqueIndex(UniqueIndexType.Computed, "uq_flavor_name", f => f.Name).UseOptimisticConcurrency(true);
            // The database, not this process, keeps names unique per owner and labels unique across the fleet.
            options.Schema.For<Vm>()
                .UniqueIndex(UniqueIndexType.Computed, "uq_vm_owner_name", v => v.OwnerId, v => v.Name)
                .UniqueIndex(UniqueIndexType.Computed, "uq_vm_label", v => v.LabelIndex)
                .Index(v => v.OwnerId)
                .Index(v => v.TemplateId)
                .Index(v => v.GroupId)
                .Index(v => v.HostId);
            options.Schema.For<PortalUser>().UniqueIndex(UniqueIndexType.Computed, "uq_user_name", u => u.UserName);
            options.Schema.For<AuditEntry>().Index(e => e.At).Index(e => e.Actor).Index(e => e.VmId);
            options.Schema.For<SignInFailures>().Identity(f => f.Id).UseOptimisticConcurrency(true);
            options.Schema.For<ConsoleTicket>().UseOptimisticConcurrency(true);
            // A create from a template stores the template again: a racing delete of it then fails.
            options.Schema.For<VmTemplate>().UseOptimisticConcurrency(true);
            options.Schema.For<LibraryImage>().Index(i => i.Sha256).Index(i => i.OwnerId);
            options.Schema.For<Group>().UniqueIndex(UniqueIndexType.Computed, "uq_group_name", g => g.Name).UseOptimisticConcurrency(true);
            options.Schema.For<HostRecord>().UseOptimisticConcurrency(true);
            // Spending a join token is version-checked: one token, one host.
            options.Schema.For<JoinToken>().UseOptimisticConcurrency(true);
            // Dispatcher, reports and reconnects all write a command's state: a version check keeps one
            // from overwriting another (a lost "Succeeded" made a VM look busy for good).
            options.Schema.For<AgentCommand>().Index(c => c.State).UseOptimisticConcurrency(true);
        }).UseLightweightSessions().ApplyAllDatabaseChangesOnStartup();
    }

    public static void AddPortalAccounts(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IPasswordHasher<PortalUser>, PasswordHasher<PortalUser>>();
        builder.Services.AddSingleton<Accounts>();
        builder.Services.AddAuthentication(AccountEndpoints.Scheme)
            .AddCookie(AccountEndpoints.Scheme, options =>
            {
                options.LoginPath = AccountEndpoints.LoginPath;
                options.AccessDeniedPath = "/account/denied";
                // __Host-: the browser keeps it only when Secure, for the whole site, from this host alone.
                options.Cookie.Name = "__Host-paddock";
                options.Cookie.HttpOnly = true;
                options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.SlidingExpiration = true;
                options.ExpireTimeSpan = TimeSpan.FromHours(8);
                // The API answers with status codes, not with the sign-in page.
                options.Events.OnRedirectToLogin = context => ApiOrRedirect(context, StatusCodes.Status401Unauthorized);
                options.Events.OnRedirectToAccessDenied = context => ApiOrRedirect(context, StatusCodes.Status403Forbidden);
                // A disabled account or a changed password ends the sessions signed in before.
                options.Events.OnValidatePrincipal = UserSessions.ValidateCookieAsync;
            })
            .AddScheme<AuthenticationSchemeOptions, AgentAuthentication>(AgentAuthentication.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AgentAuthentication.Policy, policy => policy.AddAuthenticationSchemes(AgentAuthentication.SchemeName).RequireRole("host-agent"));
        builder.Services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "__Host-paddock-antiforgery";
            options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
            options.Cookie.SameSite = SameSiteMode.Strict;
        });
        builder.Services.AddCascadingAuthenticationState();
        builder.Services.AddSingleton<UserSessions>();
        builder.Services.AddScoped<Microsoft.AspNetCore.Components.Authorization.AuthenticationStateProvider, RevalidatingAuthentication>();
        builder.Services.AddSingleton<SignInThrottle>();
        builder.Services.AddSingleton<UserAdmin>();
        builder.Services.AddSingleton<Audit>();
        builder.Services.AddSingleton<ChangeNotifier<UsersChanged>>();
    }

    private static bool IsForPrograms(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments("/hubs") || path.StartsWithSegments("/console") || path.StartsWithSegments("/agent");

    private static Task ApiOrRedirect(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (IsForPrograms(context.Request.Path))
        {
            context.Response.StatusCode = status;
        }
        else
        {
            context.Response.Redirect(context.RedirectUri);
        }

        return Task.CompletedTask;
    }

    public static void AddPortalHosts(this WebApplicationBuilder builder)
    {
        builder.Services.AddSignalR();
        builder.Services.AddSingleton<HostConnections>();
        builder.Services.AddSingleton<HostEnrollment>();
        builder.Services.AddSingleton<PortalCertificate>();
        builder.Services.AddSingleton<ChangeNotifier<HostsChanged>>();
        builder.Services.AddSingleton<CommandDispatcher>();
        builder.Services.AddSingleton<ChangeNotifier<PlacementChanged>>();
        builder.Services.AddSingleton<ChangeNotifier<HostUsageChanged>>();
        builder.Services.AddSingleton<PlacementService>();
        builder.Services.AddHostedService(services => services.GetRequiredService<CommandDispatcher>());
        builder.Services.AddHostedService<HostsOnStartup>();
        builder.Services.AddHostedService<HostWatch>();
    }

    public static void AddPortalVms(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ChangeNotifier<VmChanged>>();
        builder.Services.AddSingleton<VmService>();
        builder.Services.AddSingleton<VmObservations>();
        builder.Services.AddSingleton<ChangeNotifier<TemplateChanged>>();
        builder.Services.AddSingleton<TemplateService>();
        builder.Services.AddHostedService<TemplatesOnStartup>();
        builder.Services.AddSingleton<ChangeNotifier<GroupsChanged>>();
        builder.Services.AddSingleton<GroupService>();
        builder.Services.AddSingleton<ChangeNotifier<ImagesChanged>>();
        builder.Services.AddSingleton<ImageService>();
        builder.Services.AddSingleton<ChangeNotifier<QuotasChanged>>();
        builder.Services.AddSingleton<QuotaService>();
        builder.Services.AddSingleton<PolicyService>();
        builder.Services.AddSingleton<ChangeNotifier<FlavorsChanged>>();
        builder.Services.AddSingleton<FlavorService>();
        builder.Services.AddSingleton<ChangeNotifier<RequestsChanged>>();
        builder.Services.AddSingleton<RequestService>();
        builder.Services.AddSingleton<LeaseKeeper>();
        builder.Services.AddHostedService(services => services.GetRequiredService<LeaseKeeper>());
    }

    public static void AddPortalConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ConsoleTickets>();
        builder.Services.AddSingleton<ConsoleRendezvous>();
        builder.Services.AddSingleton<ConsoleRelay>();
        builder.Services.AddSingleton<ConsoleSessions>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ConsoleSessions>());
    }

    public static void AddPortalUi(this WebApplicationBuilder builder)
    {
        // Run from a build (./paddock up) as well as from published output (docker): a build
        // serves package assets (MudBlazor, noVNC) through the static web assets manifest.
        builder.WebHost.UseStaticWebAssets();
        // HTTP/1.1 only, so WebSockets (circuits, consoles) upgrade the classic way. Over HTTPS
        // Chromium otherwise runs them over HTTP/2 (RFC 8441), and here their browser-to-server
        // direction stalled now and then: keystrokes and clicks never arrived (three CI runs; the
        // same symptom as dotnet/aspnetcore#67546 on .NET 10).
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1));
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddProblemDetails();
        // The API speaks the UI's words: "Running", "OnCrash", not numbers.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        builder.Services.AddMudServices();
    }

    /// <summary>
    /// Sent with every response. Scripts only from the portal itself; styles may be inline because
    /// MudBlazor and xterm.js set them from script; sockets only back to the portal (consoles,
    /// Blazor); no framing by other sites.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        + "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    public static void UsePortalPipeline(this WebApplication app)
    {
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

        // People get the not-found page; programs (API, hub, console sockets) get the bare status.
        app.UseWhen(
            http => HttpMethods.IsGet(http.Request.Method) && !IsForPrograms(http.Request.Path),
            branch => branch.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true));
        app.UseWebSockets();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();
    }

    public static void MapPortalAccounts(this WebApplication app) => app.MapAccountEndpoints();

    public static void MapPortalHosts(this WebApplication app) => app.MapHostEndpoints();

    public static void MapPortalConsole(this WebApplication app) => app.MapConsoleEndpoints();

    public static void MapPortalVms(this WebApplication app)
    {
        app.MapVmEndpoints();
        app.MapTemplateEndpoints();
        app.MapImageEndpoints();
        app.MapRequestEndpoints();
        app.MapQuotaEndpoints();
        app.MapPlacementEndpoints();
    }

    public static void MapPortalUi(this WebApplication app)
    {
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
    }
}
