using Paddock.Portal;
using Paddock.Portal.Features.Accounts;

var builder = WebApplication.CreateBuilder(args);

builder.AddPortalOptions();
builder.AddPortalPersistence();
builder.AddPortalAccounts();
builder.AddPortalHosts();
builder.AddPortalVms();
builder.AddPortalConsole();
builder.AddPortalUi();

var app = builder.Build();

// `Paddock.Portal accounts ...` manages accounts from the command line and exits.
if (args.Length > 0 && args[0] == "accounts")
{
    return await AccountsCli.RunAsync(app.Services, args[1..]);
}

app.UsePortalPipeline();
app.MapPortalAccounts();
app.MapPortalHosts();
app.MapPortalVms();
app.MapPortalConsole();
app.MapPortalUi();

await app.RunAsync();
return 0;
