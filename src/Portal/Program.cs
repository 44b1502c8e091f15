using Paddock.Portal;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Admin;
using Paddock.Portal.Features.Agents;
using Paddock.Portal.Features.Console;
using Paddock.Portal.Features.Flavors;
using Paddock.Portal.Features.Groups;
using Paddock.Portal.Features.Health;
using Paddock.Portal.Features.Hosts;
using Paddock.Portal.Features.Images;
using Paddock.Portal.Features.Maintenance;
using Paddock.Portal.Features.Networks;
using Paddock.Portal.Features.Placement;
using Paddock.Portal.Features.Quotas;
using Paddock.Portal.Features.Reference;
using Paddock.Portal.Features.Requests;
using Paddock.Portal.Features.Telemetry;
using Paddock.Portal.Features.Templates;
using Paddock.Portal.Features.Tokens;
using Paddock.Portal.Features.SshKeys;
using Paddock.Portal.Features.Vms;

// The portal's own folder is its content root whatever the current directory: ./paddock up and the
// tests start it from elsewhere, where its appsettings.json (log levels) was not read and every
// request was logged.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
if (args is ["accounts" or "hosts" or "routes", ..])
{
    // The command line prints what it makes (a password, a join token) on stdout: logs go to stderr.
    builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
}

// The web app and its store, then each feature with its services and documents, from the bottom
// up: a feature uses those before it (scripts/feature-edges.py lists which uses which).
builder.AddPortal();
builder.AddShared();
builder.AddAccounts();
builder.AddGroups();
builder.AddHosts();
builder.AddAgents();
builder.AddQuotas();
builder.AddTokens();
builder.AddSshKeys();
builder.AddPlacement();
builder.AddImages();
builder.AddTemplates();
builder.AddFlavors();
builder.AddNetworks();
builder.AddVms();
builder.AddMaintenance();
builder.AddRequests();
builder.AddConsoles();
builder.AddAdmin();
builder.AddHealth();
builder.AddReference();
builder.AddTelemetry();

var app = builder.Build();

// `Paddock.Portal accounts ...` and `... hosts ...` work from the command line and exit.
switch (args)
{
    case ["accounts", .. var rest]:
        return await AccountsCli.RunAsync(app.Services, rest);
    case ["hosts", .. var rest]:
        return await HostsCli.RunAsync(app.Services, rest);
}

app.UsePortal();
app.MapAccounts();
app.MapHosts();
app.MapAgents();
app.MapQuotas();
app.MapTokens();
app.MapSshKeys();
app.MapPlacement();
app.MapImages();
app.MapTemplates();
app.MapFlavors();
app.MapNetworks();
app.MapVms();
app.MapMaintenance();
app.MapRequests();
app.MapConsoles();
app.MapHealth();
app.MapReference();
app.MapTelemetry();
app.MapPortal();

// `Paddock.Portal routes` lists what the portal maps and exits (the walls test reads it).
if (args is ["routes"])
{
    return PortalRoutes.Print(app);
}

await app.RunAsync();
return 0;
