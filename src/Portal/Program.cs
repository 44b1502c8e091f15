using Paddock.Portal;
using Paddock.Portal.Features.Accounts;
using Paddock.Portal.Features.Hosts;

var builder = WebApplication.CreateBuilder(args);
if (args is ["accounts" or "hosts" or "routes", ..])
{
    // The command line prints what it makes (a password, a join token) on stdout: logs go to stderr.
    builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
}

builder.AddPortalOptions();
builder.AddPortalPersistence();
builder.AddPortalAccounts();
builder.AddPortalHosts();
builder.AddPortalVms();
builder.AddPortalConsole();
builder.AddPortalUi();

var app = builder.Build();

// `Paddock.Portal accounts ...` and `... hosts ...` work from the command line and exit.
switch (args)
{
    case ["accounts", .. var rest]:
        return await AccountsCli.RunAsync(app.Services, rest);
    case ["hosts", .. var rest]:
        return await HostsCli.RunAsync(app.Services, rest);
}

app.UsePortalPipeline();
app.MapPortalAccounts();
app.MapPortalHosts();
app.MapPortalVms();
app.MapPortalConsole();
app.MapPortalUi();

// `Paddock.Portal routes` lists what the portal maps and exits (the walls test reads it).
if (args is ["routes"])
{
    return PortalRoutes.Print(app);
}

await app.RunAsync();
return 0;
